# repro figure 'soap_lm_efficiency': gnuplot soap_lm_efficiency.gp redraws it from soap_lm_efficiency.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 21 && ARG0[strlen(ARG0)-21:] eq '/soap_lm_efficiency.gp') { cd ARG0[1:strlen(ARG0)-21] }
data = 'soap_lm_efficiency.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1120,400 font 'sans,10'; set output 'soap_lm_efficiency.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1120,400 font 'sans,10' background '#ffffff'; set output 'soap_lm_efficiency.svg' }
  set multiplot layout 1,2 title 'The paper''s measure: runs of fractions of the steps (cosine each), fitted a + b N^-beta. Ours: 109k-param Llama, char Tiny Shakespeare, batch 32x64 tokens, 3 seeds'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'final validation loss against run length'
  set xlabel 'steps N (one cosine run each)'
  set ylabel 'final validation loss'
  set yrange [1.75236723:2.27199848]
  set key top right
  set arrow from graph 0, first 2.00136933 to graph 1, first 2.00136933 nohead dt 2 lc rgb '#555555'
  set label 'AdamW''s final loss (mean over seeds)' at graph 0.02, first 2.00136933 offset 0,0.6
  plot data index 0 using 1:2 with points pt 7 ps 0.6 lc rgb '#1f77b4' notitle, \
     data index 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'AdamW (fit a + b N^-beta, one per seed)', \
     data index 2 using 1:2 with points pt 7 ps 0.6 lc rgb '#1f77b4' notitle, \
     data index 3 using 1:2 with lines lw 2 lc rgb '#1f77b4' notitle, \
     data index 4 using 1:2 with points pt 7 ps 0.6 lc rgb '#1f77b4' notitle, \
     data index 5 using 1:2 with lines lw 2 lc rgb '#1f77b4' notitle, \
     data index 6 using 1:2 with points pt 7 ps 0.6 lc rgb '#2ca02c' notitle, \
     data index 7 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'Shampoo (fit a + b N^-beta, one per seed)', \
     data index 8 using 1:2 with points pt 7 ps 0.6 lc rgb '#2ca02c' notitle, \
     data index 9 using 1:2 with lines lw 2 lc rgb '#2ca02c' notitle, \
     data index 10 using 1:2 with points pt 7 ps 0.6 lc rgb '#2ca02c' notitle, \
     data index 11 using 1:2 with lines lw 2 lc rgb '#2ca02c' notitle, \
     data index 12 using 1:2 with points pt 7 ps 0.6 lc rgb '#d62728' notitle, \
     data index 13 using 1:2 with lines lw 2 lc rgb '#d62728' title 'SOAP (fit a + b N^-beta, one per seed)', \
     data index 14 using 1:2 with points pt 7 ps 0.6 lc rgb '#d62728' notitle, \
     data index 15 using 1:2 with lines lw 2 lc rgb '#d62728' notitle, \
     data index 16 using 1:2 with points pt 7 ps 0.6 lc rgb '#d62728' notitle, \
     data index 17 using 1:2 with lines lw 2 lc rgb '#d62728' notitle
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title '% fewer iterations (fit), each seed'
  set xlabel 'seed'
  set ylabel '% fewer iterations'
  set key top right
  set arrow from graph 0, first 40 to graph 1, first 40 nohead dt 2 lc rgb '#555555'
  set label 'paper: SOAP vs AdamW > 40%' at graph 0.02, first 40 offset 0,0.6
  set arrow from graph 0, first 20 to graph 1, first 20 nohead dt 2 lc rgb '#555555'
  set label 'paper: SOAP vs Shampoo ~ 20%' at graph 0.02, first 20 offset 0,0.6
  plot data index 18 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#d62728' title 'SOAP vs AdamW', \
     data index 19 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#9467bd' title 'SOAP vs Shampoo', \
     data index 20 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#2ca02c' title 'Shampoo vs AdamW'
  unset multiplot
  unset output
}
