# repro figure 'lr_sweep': gnuplot lr_sweep.gp redraws it from lr_sweep.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 11 && ARG0[strlen(ARG0)-11:] eq '/lr_sweep.gp') { cd ARG0[1:strlen(ARG0)-11] }
data = 'lr_sweep.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1000,550 font 'sans,10'; set output 'lr_sweep.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1000,550 font 'sans,10' background '#ffffff'; set output 'lr_sweep.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Final training loss (mean of the last 50 steps, mean over seeds) against the learning rate [preset hunt_lr; paper recipe: delayed, margin 0, window 1 step, pow2 scales, saturating casts, stochastic E5M2 grads, bwd operands e5m2]'
  set xlabel 'peak learning rate'
  set ylabel 'final training loss'
  set logscale x
  set key top right
  plot data index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#000000' title 'bf16, SwiGLU', \
     data index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#d7191c' title 'fp8 paper recipe, SwiGLU', \
     data index 2 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#1a9641' title 'fp8, Smooth-SwiGLU (token, max|xW2|)', \
     data index 3 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#7b3294' title 'fp8, SwiGLU, h (W3 input) in bf16'
  unset output
}
