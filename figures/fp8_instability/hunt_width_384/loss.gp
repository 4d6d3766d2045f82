# repro figure 'loss': gnuplot loss.gp redraws it from loss.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 7 && ARG0[strlen(ARG0)-7:] eq '/loss.gp') { cd ARG0[1:strlen(ARG0)-7] }
data = 'loss.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1100,600 font 'sans,10'; set output 'loss.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1100,600 font 'sans,10' background '#ffffff'; set output 'loss.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Training loss, mean over seeds (running mean of 25 steps), lr 0.01 [preset hunt_width_384; paper recipe: delayed, margin 0, window 1 step, pow2 scales, saturating casts, stochastic E5M2 grads, bwd operands e5m2] - NO ARM DIVERGED OR DEGRADED'
  set xlabel 'tokens'
  set ylabel 'training loss'
  set key top right
  plot data index 0 using 1:2 with lines lw 2 lc rgb '#000000' title 'bf16, SwiGLU (3 seeds) - reference', \
     data index 1 using 1:2 with lines lw 2 lc rgb '#d7191c' title 'fp8 paper recipe, SwiGLU (3 seeds) - ok', \
     data index 2 using 1:2 with lines lw 2 lc rgb '#1a9641' title 'fp8, Smooth-SwiGLU (token, max|xW2|) (3 seeds) - ok', \
     data index 3 using 1:2 with lines lw 2 lc rgb '#7b3294' title 'fp8, SwiGLU, h (W3 input) in bf16 (3 seeds) - ok'
  unset output
}
