# repro figure 'diagnostics': gnuplot diagnostics.gp redraws it from diagnostics.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 14 && ARG0[strlen(ARG0)-14:] eq '/diagnostics.gp') { cd ARG0[1:strlen(ARG0)-14] }
data = 'diagnostics.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1400,1600 font 'sans,10'; set output 'diagnostics.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1400,1600 font 'sans,10' background '#ffffff'; set output 'diagnostics.svg' }
  set multiplot layout 4,2 title 'Per-layer diagnostics, seed 1, lr 0.01 [preset fast; paper recipe: delayed, margin 0, window 1 step, pow2 scales, saturating casts, stochastic E5M2 grads, bwd operands e5m2]'
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
     data index 3 using 1:2 with lines lw 2 lc rgb '#2b83ba' title 'fp8, Smooth-SwiGLU (channel, max|xW2|)', \
     data index 4 using 1:2 with lines lw 2 lc rgb '#abd9e9' title 'fp8, Smooth-SwiGLU (channel, max|h|)', \
     data index 5 using 1:2 with lines lw 2 lc rgb '#7b3294' title 'fp8, SwiGLU, h (W3 input) in bf16', \
     data index 6 using 1:2 with lines lw 2 lc rgb '#fdae61' title 'fp8 TE delayed (1024, margin 0), SwiGLU', \
     data index 7 using 1:2 with lines lw 2 lc rgb '#a6611a' title 'fp8, SwiGLU, Adam m E4M3 / v E5M2'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'layer 2: max |h| per step (h = SwiGLU output)'
  set xlabel 'step'
  set ylabel 'max |h|'
  set logscale y
  set key top right
  plot data index 8 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 9 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 10 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 11 using 1:2 with lines lw 2 lc rgb '#2b83ba' title '', \
     data index 12 using 1:2 with lines lw 2 lc rgb '#abd9e9' title '', \
     data index 13 using 1:2 with lines lw 2 lc rgb '#7b3294' title '', \
     data index 14 using 1:2 with lines lw 2 lc rgb '#fdae61' title '', \
     data index 15 using 1:2 with lines lw 2 lc rgb '#a6611a' title ''
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
  plot data index 16 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 17 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 18 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 19 using 1:2 with lines lw 2 lc rgb '#2b83ba' title '', \
     data index 20 using 1:2 with lines lw 2 lc rgb '#abd9e9' title '', \
     data index 21 using 1:2 with lines lw 2 lc rgb '#7b3294' title '', \
     data index 22 using 1:2 with lines lw 2 lc rgb '#fdae61' title '', \
     data index 23 using 1:2 with lines lw 2 lc rgb '#a6611a' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'fraction of h flushed to zero in E4M3 (max over layers; floor 1e-6)'
  set xlabel 'step'
  set ylabel 'fraction'
  set logscale y
  set key top right
  plot data index 24 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 25 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 26 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 27 using 1:2 with lines lw 2 lc rgb '#2b83ba' title '', \
     data index 28 using 1:2 with lines lw 2 lc rgb '#abd9e9' title '', \
     data index 29 using 1:2 with lines lw 2 lc rgb '#7b3294' title '', \
     data index 30 using 1:2 with lines lw 2 lc rgb '#fdae61' title '', \
     data index 31 using 1:2 with lines lw 2 lc rgb '#a6611a' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'cumulative clamps: h (solid), W3 weight (dashed)'
  set xlabel 'step'
  set ylabel 'count'
  set key top right
  plot data index 32 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 33 using 1:2 with lines lw 2 dt 2 lc rgb '#000000' title '', \
     data index 34 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 35 using 1:2 with lines lw 2 dt 2 lc rgb '#d7191c' title '', \
     data index 36 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 37 using 1:2 with lines lw 2 dt 2 lc rgb '#1a9641' title '', \
     data index 38 using 1:2 with lines lw 2 lc rgb '#2b83ba' title '', \
     data index 39 using 1:2 with lines lw 2 dt 2 lc rgb '#2b83ba' title '', \
     data index 40 using 1:2 with lines lw 2 lc rgb '#abd9e9' title '', \
     data index 41 using 1:2 with lines lw 2 dt 2 lc rgb '#abd9e9' title '', \
     data index 42 using 1:2 with lines lw 2 lc rgb '#7b3294' title '', \
     data index 43 using 1:2 with lines lw 2 dt 2 lc rgb '#7b3294' title '', \
     data index 44 using 1:2 with lines lw 2 lc rgb '#fdae61' title '', \
     data index 45 using 1:2 with lines lw 2 dt 2 lc rgb '#fdae61' title '', \
     data index 46 using 1:2 with lines lw 2 lc rgb '#a6611a' title '', \
     data index 47 using 1:2 with lines lw 2 dt 2 lc rgb '#a6611a' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'layer 2: largest channel kurtosis of h (fp32 probe)'
  set xlabel 'step'
  set ylabel 'kurtosis'
  set logscale y
  set key top right
  plot data index 48 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 49 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 50 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 51 using 1:2 with lines lw 2 lc rgb '#2b83ba' title '', \
     data index 52 using 1:2 with lines lw 2 lc rgb '#abd9e9' title '', \
     data index 53 using 1:2 with lines lw 2 lc rgb '#7b3294' title '', \
     data index 54 using 1:2 with lines lw 2 lc rgb '#fdae61' title '', \
     data index 55 using 1:2 with lines lw 2 lc rgb '#a6611a' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'layer 2: cos(w1_i, w2_i) of the outlier channel (largest max|h_i|)'
  set xlabel 'step'
  set ylabel 'cosine'
  set yrange [-1:1]
  set key top right
  plot data index 56 using 1:2 with lines lw 2 lc rgb '#000000' title '', \
     data index 57 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 58 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 59 using 1:2 with lines lw 2 lc rgb '#2b83ba' title '', \
     data index 60 using 1:2 with lines lw 2 lc rgb '#abd9e9' title '', \
     data index 61 using 1:2 with lines lw 2 lc rgb '#7b3294' title '', \
     data index 62 using 1:2 with lines lw 2 lc rgb '#fdae61' title '', \
     data index 63 using 1:2 with lines lw 2 lc rgb '#a6611a' title ''
  unset multiplot
  unset output
}
