# repro figure 'loss': gnuplot loss.gp redraws it from loss.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 7 && ARG0[strlen(ARG0)-7:] eq '/loss.gp') { cd ARG0[1:strlen(ARG0)-7] }
data = 'loss.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1000,550 font 'sans,10'; set output 'loss.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1000,550 font 'sans,10' background '#ffffff'; set output 'loss.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Training loss (running mean of 25 steps) [preset fast_saturating; saturating casts (overflow clamps to max)] - NO RUN DIVERGED'
  set xlabel 'tokens'
  set ylabel 'training loss'
  set key top right
  plot data index 0 using 1:2 with lines lw 2 lc rgb '#7b3294' title 'bf16, SwiGLU - no divergence', \
     data index 1 using 1:2 with lines lw 2 lc rgb '#d7191c' title 'fp8 delayed, SwiGLU - no divergence', \
     data index 2 using 1:2 with lines lw 2 lc rgb '#2b83ba' title 'fp8 delayed, Smooth-SwiGLU (channel) - no divergence', \
     data index 3 using 1:2 with lines lw 2 lc rgb '#1a9641' title 'fp8 delayed, Smooth-SwiGLU (token) - no divergence', \
     data index 4 using 1:2 with lines lw 2 lc rgb '#fdae61' title 'fp8 current, SwiGLU - no divergence'
  unset output
}
