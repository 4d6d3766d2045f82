# repro figure 'mechanism': gnuplot mechanism.gp redraws it from mechanism.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 12 && ARG0[strlen(ARG0)-12:] eq '/mechanism.gp') { cd ARG0[1:strlen(ARG0)-12] }
data = 'mechanism.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1120,800 font 'sans,10'; set output 'mechanism.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1120,800 font 'sans,10' background '#ffffff'; set output 'mechanism.svg' }
  set multiplot layout 2,2 title 'One SwiGLU layer, fp32 (no FP8 casts: nothing saturates), AdamW lr 0.01, synthetic data, 3000 steps [preset fast]'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'W1/W2 alignment: mean and max |cos(w1_i, w2_i)|'
  set xlabel 'step'
  set ylabel '|cosine|'
  set key top right
  plot data index 0 using 1:2 with lines lw 2 dt 2 title 'no weight decay: max', \
     data index 1 using 1:2 with lines lw 2 dt 2 title 'no weight decay: mean', \
     data index 2 using 1:2 with lines lw 2 title 'weight decay 0.1: max', \
     data index 3 using 1:2 with lines lw 2 title 'weight decay 0.1: mean'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'max |h| on a fixed probe batch'
  set xlabel 'step'
  set ylabel 'max |h|'
  set logscale y
  set key top right
  plot data index 4 using 1:2 with lines lw 2 title 'no weight decay', \
     data index 5 using 1:2 with lines lw 2 title 'weight decay 0.1'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'end of training (weight decay 0.1): h_i against w1_i.x'
  set xlabel 'w1_i . x'
  set ylabel 'h_i'
  set key top right
  set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
  plot data index 6 using 1:2 with points pt 7 ps 0.6 title 'most aligned channel 30, cos 1.00', \
     data index 7 using 1:2 with points pt 7 ps 0.6 title 'least aligned channel 28, cos 0.01'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'max |h(a x)| against input scale a (log-log)'
  set xlabel 'input scale a'
  set ylabel 'max |h|'
  set logscale x
  set logscale y
  set key top right
  plot data index 8 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'no weight decay (slope 2.00 for a>=2)', \
     data index 9 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'weight decay 0.1 (slope 2.00 for a>=2)', \
     data index 10 using 1:2 with lines lw 2 dt 3 title 'slope 2 (quadratic)'
  unset multiplot
  unset output
}
