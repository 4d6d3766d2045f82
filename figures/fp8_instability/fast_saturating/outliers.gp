# repro figure 'outliers': gnuplot outliers.gp redraws it from outliers.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 11 && ARG0[strlen(ARG0)-11:] eq '/outliers.gp') { cd ARG0[1:strlen(ARG0)-11] }
data = 'outliers.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1300,840 font 'sans,10'; set output 'outliers.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1300,840 font 'sans,10' background '#ffffff'; set output 'outliers.svg' }
  set multiplot layout 2,2 title 'SwiGLU output outliers and FP8 overflows [preset fast_saturating; saturating casts (overflow clamps to max)]'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'layer 1: max |SwiGLU output h| per step'
  set xlabel 'step'
  set ylabel 'max |h|'
  set logscale y
  set key top right
  plot data index 0 using 1:2 with lines lw 2 lc rgb '#7b3294' title '', \
     data index 1 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 2 using 1:2 with lines lw 2 lc rgb '#2b83ba' title '', \
     data index 3 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 4 using 1:2 with lines lw 2 lc rgb '#fdae61' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'layer 2: max |SwiGLU output h| per step'
  set xlabel 'step'
  set ylabel 'max |h|'
  set logscale y
  set key top right
  plot data index 5 using 1:2 with lines lw 2 lc rgb '#7b3294' title '', \
     data index 6 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 7 using 1:2 with lines lw 2 lc rgb '#2b83ba' title '', \
     data index 8 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 9 using 1:2 with lines lw 2 lc rgb '#fdae61' title ''
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'max|h| / max over the previous 16 steps (all layers)'
  set xlabel 'step'
  set ylabel 'ratio'
  set logscale y
  set yrange [0.1:4]
  set key top right
  set arrow from graph 0, first 1.03571429 to graph 1, first 1.03571429 nohead dt 2 lc rgb '#555555'
  set label 'E4M3 overflow under delayed scaling' at graph 0.02, first 1.03571429 offset 0,0.6
  plot data index 10 using 1:2 with lines lw 2 lc rgb '#7b3294' title 'bf16, SwiGLU', \
     data index 11 using 1:2 with lines lw 2 lc rgb '#d7191c' title 'fp8 delayed, SwiGLU', \
     data index 12 using 1:2 with lines lw 2 lc rgb '#2b83ba' title 'fp8 delayed, Smooth-SwiGLU (channel)', \
     data index 13 using 1:2 with lines lw 2 lc rgb '#1a9641' title 'fp8 delayed, Smooth-SwiGLU (token)', \
     data index 14 using 1:2 with lines lw 2 lc rgb '#fdae61' title 'fp8 current, SwiGLU'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'cumulative E4M3 overflows: all fwd casts (solid), h (dashed)'
  set xlabel 'step'
  set ylabel 'count'
  set key top right
  plot data index 15 using 1:2 with lines lw 2 lc rgb '#7b3294' title '', \
     data index 16 using 1:2 with lines lw 2 dt 2 lc rgb '#7b3294' title '', \
     data index 17 using 1:2 with lines lw 2 lc rgb '#d7191c' title '', \
     data index 18 using 1:2 with lines lw 2 dt 2 lc rgb '#d7191c' title '', \
     data index 19 using 1:2 with lines lw 2 lc rgb '#2b83ba' title '', \
     data index 20 using 1:2 with lines lw 2 dt 2 lc rgb '#2b83ba' title '', \
     data index 21 using 1:2 with lines lw 2 lc rgb '#1a9641' title '', \
     data index 22 using 1:2 with lines lw 2 dt 2 lc rgb '#1a9641' title '', \
     data index 23 using 1:2 with lines lw 2 lc rgb '#fdae61' title '', \
     data index 24 using 1:2 with lines lw 2 dt 2 lc rgb '#fdae61' title ''
  unset multiplot
  unset output
}
