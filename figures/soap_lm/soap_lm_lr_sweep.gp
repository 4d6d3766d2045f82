# repro figure 'soap_lm_lr_sweep': gnuplot soap_lm_lr_sweep.gp redraws it from soap_lm_lr_sweep.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 19 && ARG0[strlen(ARG0)-19:] eq '/soap_lm_lr_sweep.gp') { cd ARG0[1:strlen(ARG0)-19] }
data = 'soap_lm_lr_sweep.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 800,500 font 'sans,10'; set output 'soap_lm_lr_sweep.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 800,500 font 'sans,10' background '#ffffff'; set output 'soap_lm_lr_sweep.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Learning-rate sweep (seed 1): final validation loss (diverged runs omitted). Ours: 109k-param Llama, char Tiny Shakespeare'
  set xlabel 'peak learning rate'
  set ylabel 'final validation loss'
  set logscale x
  set key top right
  plot data index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#1f77b4' title 'AdamW', \
     data index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#2ca02c' title 'Shampoo', \
     data index 2 using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb '#d62728' title 'SOAP'
  unset output
}
