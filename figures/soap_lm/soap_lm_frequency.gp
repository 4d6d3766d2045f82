# repro figure 'soap_lm_frequency': gnuplot soap_lm_frequency.gp redraws it from soap_lm_frequency.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 20 && ARG0[strlen(ARG0)-20:] eq '/soap_lm_frequency.gp') { cd ARG0[1:strlen(ARG0)-20] }
data = 'soap_lm_frequency.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 800,500 font 'sans,10'; set output 'soap_lm_frequency.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 800,500 font 'sans,10' background '#ffffff'; set output 'soap_lm_frequency.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Final val loss vs precondition frequency (lr: best at 10). Ours: 109k-param Llama, char Tiny Shakespeare'
  set xlabel 'precondition frequency (steps)'
  set ylabel 'final validation loss'
  set logscale x
  set yrange [1.87263902:1.98866143]
  set key top right
  set arrow from graph 0, first 1.96964373 to graph 1, first 1.96964373 nohead dt 2 lc rgb '#555555'
  set label 'AdamW' at graph 0.02, first 1.96964373 offset 0,0.6
  plot data index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#2ca02c' title 'Shampoo', \
     data index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#d62728' title 'SOAP'
  unset output
}
