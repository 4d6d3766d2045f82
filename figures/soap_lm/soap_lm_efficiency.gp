# repro figure 'soap_lm_efficiency': gnuplot soap_lm_efficiency.gp redraws it from soap_lm_efficiency.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 21 && ARG0[strlen(ARG0)-21:] eq '/soap_lm_efficiency.gp') { cd ARG0[1:strlen(ARG0)-21] }
data = 'soap_lm_efficiency.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1120,400 font 'sans,10'; set output 'soap_lm_efficiency.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1120,400 font 'sans,10' background '#ffffff'; set output 'soap_lm_efficiency.svg' }
  set multiplot layout 1,2 title 'Steps and seconds to reach AdamW''s final validation loss 1.9696 (dashed). Ours: 109k-param Llama, char Tiny Shakespeare, batch 32x64 tokens'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'fewer iterations vs AdamW: SOAP 34.5%, Shampoo 32.3%'
  set xlabel 'step'
  set ylabel 'validation loss'
  set yrange [1.86173942:2.46964361]
  set key top right
  set arrow from graph 0, first 1.96964361 to graph 1, first 1.96964361 nohead dt 2 lc rgb '#555555'
  set arrow from 378.267316, graph 0 to 378.267316, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' AdamW 378' at 290.267316, 2.04464361
  set arrow from 256.154576, graph 0 to 256.154576, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' Shampoo 256' at 256.154576, 2.10464361
  set arrow from 247.901928, graph 0 to 247.901928, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' SOAP 248' at 247.901928, 2.16464361
  plot data index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'AdamW', \
     data index 1 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'Shampoo', \
     data index 2 using 1:2 with lines lw 2 lc rgb '#d62728' title 'SOAP'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'less time vs AdamW: SOAP 31.1%, Shampoo 29.2%'
  set xlabel 'training CPU seconds (os.clock)'
  set ylabel 'validation loss'
  set yrange [1.86173942:2.46964361]
  set key top right
  set arrow from graph 0, first 1.96964361 to graph 1, first 1.96964361 nohead dt 2 lc rgb '#555555'
  set arrow from 17.0019951, graph 0 to 17.0019951, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' AdamW 17.0s' at 12.8440734, 2.04464361
  set arrow from 12.031296, graph 0 to 12.031296, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' Shampoo 12.0s' at 12.031296, 2.10464361
  set arrow from 11.7062568, graph 0 to 11.7062568, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' SOAP 11.7s' at 11.7062568, 2.16464361
  plot data index 3 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'AdamW', \
     data index 4 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'Shampoo', \
     data index 5 using 1:2 with lines lw 2 lc rgb '#d62728' title 'SOAP'
  unset multiplot
  unset output
}
