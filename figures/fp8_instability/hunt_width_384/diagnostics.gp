# repro figure 'diagnostics': gnuplot diagnostics.gp redraws it from diagnostics.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 14 && ARG0[strlen(ARG0)-14:] eq '/diagnostics.gp') { cd ARG0[1:strlen(ARG0)-14] }
data = 'diagnostics.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1400,1600 font 'sans,10'; set output 'diagnostics.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1400,1600 font 'sans,10' background '#ffffff'; set output 'diagnostics.svg' }
  set multiplot layout 4,2 title 'Per-layer diagnostics, seed 1, lr 0.01 [preset hunt_width_384; paper recipe: delayed, margin 0, window 1 step, pow2 scales, saturating casts, stochastic E5M2 grads, bwd operands e5m2]'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'layer 1: max |h| per step (h = SwiGLU output)'
  set xlabel 'step'
  set ylabel 'max |h|'
  set logscale y
  set key top right
  plot data index 0 using 1:2 with lines lw 2 lc rgb '#000000' title 'bf16, SwiGLU', \
     data index 1 using 1:2 with lines lw 2 lc rgb '#d7191c' title 'fp8 paper recipe, SwiGLU', \
     data index 2 using 1:2 with lines lw 2 lc rgb '#1a9641' title 'fp8, Smooth-SwiGLU (token, max|xW2|)', \
     data index 3 using 1:2 with lines lw 2 lc rgb '#7b3294' title 'fp8, SwiGLU, h (W3 input) in bf16'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'layer 2: max |h| per step (h = SwiGLU output)'
  set xlabel 'step'
  set ylabel 'max |h|'
  set logscale y
  set key top right
  plot data index 4 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 5 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 6 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 7 using 1:2 with lines lw 2 lc rgb '#7b3294' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'max|h| / max over the arm''s amax window (all layers)'
  set xlabel 'step'
  set ylabel 'jump'
  set logscale y
  set key top right
  set arrow from graph 0, first 1.03571429 to graph 1, first 1.03571429 nohead dt 2 lc rgb '#555555'
  set label 'E4M3 overflow at the paper arms'' margin' at graph 0.02, first 1.03571429 offset 0,0.6
  plot data index 8 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 9 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 10 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 11 using 1:2 with lines lw 2 lc rgb '#7b3294' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'fraction of h flushed to zero in E4M3 (max over layers; floor 1e-6)'
  set xlabel 'step'
  set ylabel 'fraction'
  set logscale y
  set key top right
  plot data index 12 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 13 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 14 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 15 using 1:2 with lines lw 2 lc rgb '#7b3294' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'cumulative clamps: h (solid), W3 weight (dashed)'
  set xlabel 'step'
  set ylabel 'count'
  set key top right
  plot data index 16 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 17 using 1:2 with lines lw 2 dt 2 lc rgb '#000000' title '', \
     data index 18 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 19 using 1:2 with lines lw 2 dt 2 lc rgb '#d7191c' title '', \
     data index 20 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 21 using 1:2 with lines lw 2 dt 2 lc rgb '#1a9641' title '', \
     data index 22 using 1:2 with lines lw 2 lc rgb '#7b3294' title '', \
     data index 23 using 1:2 with lines lw 2 dt 2 lc rgb '#7b3294' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'layer 2: largest channel kurtosis of h (fp32 probe)'
  set xlabel 'step'
  set ylabel 'kurtosis'
  set logscale y
  set key top right
  plot data index 24 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 25 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 26 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 27 using 1:2 with lines lw 2 lc rgb '#7b3294' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'layer 2: cos(w1_i, w2_i) of the outlier channel (largest max|h_i|)'
  set xlabel 'step'
  set ylabel 'cosine'
  set yrange [-1:1]
  set key top right
  plot data index 28 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 29 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 30 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 31 using 1:2 with lines lw 2 lc rgb '#7b3294' title ''
  unset multiplot
  unset output
}
