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
  set title 'Final val loss vs refreshes in 400 steps (frequencies 1, 2, 4, 10; the paper''s 100 at ~3.6k steps is ~36). Ours: 109k-param Llama, char Tiny Shakespeare'
  set xlabel 'eigenbasis / root refreshes per run (steps / frequency)'
  set ylabel 'final validation loss'
  set logscale x
  set yrange [1.75299307:1.84744734]
  set key top right
  plot data index 0 using 1:2 with points pt 7 ps 0.6 lc rgb '#2ca02c' notitle, \
     data index 1 using 1:2 with points pt 7 ps 0.6 lc rgb '#2ca02c' notitle, \
     data index 2 using 1:2 with points pt 7 ps 0.6 lc rgb '#2ca02c' notitle, \
     data index 3 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#2ca02c' title 'Shampoo (mean; points: seeds)', \
     data index 4 using 1:2 with points pt 7 ps 0.6 lc rgb '#d62728' notitle, \
     data index 5 using 1:2 with points pt 7 ps 0.6 lc rgb '#d62728' notitle, \
     data index 6 using 1:2 with points pt 7 ps 0.6 lc rgb '#d62728' notitle, \
     data index 7 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#d62728' title 'SOAP (mean; points: seeds)'
  unset output
}
