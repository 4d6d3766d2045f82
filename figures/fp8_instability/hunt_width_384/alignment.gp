# repro figure 'alignment': gnuplot alignment.gp redraws it from alignment.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 12 && ARG0[strlen(ARG0)-12:] eq '/alignment.gp') { cd ARG0[1:strlen(ARG0)-12] }
data = 'alignment.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1650,450 font 'sans,10'; set output 'alignment.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1650,450 font 'sans,10' background '#ffffff'; set output 'alignment.svg' }
  set multiplot layout 1,3 title 'W1/W2 alignment in bf16.s1 (fp32 probe of its weights on a fixed batch) [preset hunt_width_384; paper recipe: delayed, margin 0, window 1 step, pow2 scales, saturating casts, stochastic E5M2 grads, bwd operands e5m2]'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'cos(w1_i, w2_i), all layers and channels'
  set xlabel 'cosine'
  set key top right
  set style fill transparent solid 0.5 noborder
  set ylabel 'count'
  plot data index 0 using 1:2:(0.05) with boxes title 'step 0', \
     data index 1 using 1:2:(0.05) with boxes title 'step 50', \
     data index 2 using 1:2:(0.05) with boxes title 'step 800'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'the 5 most aligned channels at the end'
  set xlabel 'step'
  set ylabel 'cos(w1_i, w2_i)'
  set yrange [-1:1]
  set key top right
  plot data index 3 using 1:2 with lines lw 2 title 'layer 1 channel 773', \
     data index 4 using 1:2 with lines lw 2 title 'layer 1 channel 133', \
     data index 5 using 1:2 with lines lw 2 title 'layer 1 channel 171', \
     data index 6 using 1:2 with lines lw 2 title 'layer 1 channel 210', \
     data index 7 using 1:2 with lines lw 2 title 'layer 1 channel 149'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'step 800: outlier magnitude against alignment'
  set xlabel 'cos(w1_i, w2_i)'
  set ylabel 'max_t |h_ti| (channel amax)'
  set logscale y
  set key top right
  set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
  plot data index 8 using 1:2 with points pt 7 ps 0.6 title 'layer 1', \
     data index 9 using 1:2 with points pt 7 ps 0.6 title 'layer 2'
  unset multiplot
  unset output
}
