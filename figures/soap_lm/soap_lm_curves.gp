# repro figure 'soap_lm_curves': gnuplot soap_lm_curves.gp redraws it from soap_lm_curves.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 17 && ARG0[strlen(ARG0)-17:] eq '/soap_lm_curves.gp') { cd ARG0[1:strlen(ARG0)-17] }
data = 'soap_lm_curves.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1120,400 font 'sans,10'; set output 'soap_lm_curves.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1120,400 font 'sans,10' background '#ffffff'; set output 'soap_lm_curves.svg' }
  set multiplot layout 1,2 title 'Validation loss, best learning rate of each optimizer, every seed (one line each). Ours: 109k-param Llama, char Tiny Shakespeare, batch 32x64 tokens, 3 seeds'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'against steps'
  set xlabel 'step'
  set ylabel 'validation loss'
  set yrange [1.77650317:2.79650317]
  set key top right
  plot data index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'AdamW', \
     data index 1 using 1:2 with lines lw 2 lc rgb '#1f77b4' notitle, \
     data index 2 using 1:2 with lines lw 2 lc rgb '#1f77b4' notitle, \
     data index 3 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'Shampoo', \
     data index 4 using 1:2 with lines lw 2 lc rgb '#2ca02c' notitle, \
     data index 5 using 1:2 with lines lw 2 lc rgb '#2ca02c' notitle, \
     data index 6 using 1:2 with lines lw 2 lc rgb '#d62728' title 'SOAP', \
     data index 7 using 1:2 with lines lw 2 lc rgb '#d62728' notitle, \
     data index 8 using 1:2 with lines lw 2 lc rgb '#d62728' notitle
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'against training wall-clock'
  set xlabel 'training wall-clock seconds (steps x interleaved step cost)'
  set ylabel 'validation loss'
  set yrange [1.77650317:2.79650317]
  set key top right
  plot data index 9 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'AdamW', \
     data index 10 using 1:2 with lines lw 2 lc rgb '#1f77b4' notitle, \
     data index 11 using 1:2 with lines lw 2 lc rgb '#1f77b4' notitle, \
     data index 12 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'Shampoo', \
     data index 13 using 1:2 with lines lw 2 lc rgb '#2ca02c' notitle, \
     data index 14 using 1:2 with lines lw 2 lc rgb '#2ca02c' notitle, \
     data index 15 using 1:2 with lines lw 2 lc rgb '#d62728' title 'SOAP', \
     data index 16 using 1:2 with lines lw 2 lc rgb '#d62728' notitle, \
     data index 17 using 1:2 with lines lw 2 lc rgb '#d62728' notitle
  unset multiplot
  unset output
}
