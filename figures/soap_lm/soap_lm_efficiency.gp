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
  set title 'fewer iterations vs AdamW: SOAP 38.0%, Shampoo 32.4%'
  set xlabel 'step'
  set ylabel 'validation loss'
  set yrange [1.87099629:2.46964373]
  set key top right
  set arrow from graph 0, first 1.96964373 to graph 1, first 1.96964373 nohead dt 2 lc rgb '#555555'
  set arrow from 378.267271, graph 0 to 378.267271, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' AdamW 378' at 290.267271, 2.04464373
  set arrow from 255.520469, graph 0 to 255.520469, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' Shampoo 256' at 255.520469, 2.10464373
  set arrow from 234.451219, graph 0 to 234.451219, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' SOAP 234' at 234.451219, 2.16464373
  plot data index 0 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'AdamW', \
     data index 1 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'Shampoo', \
     data index 2 using 1:2 with lines lw 2 lc rgb '#d62728' title 'SOAP'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'less time vs AdamW: SOAP 30.9%, Shampoo 23.9%'
  set xlabel 'training wall-clock seconds'
  set ylabel 'validation loss'
  set yrange [1.87099629:2.46964373]
  set key top right
  set arrow from graph 0, first 1.96964373 to graph 1, first 1.96964373 nohead dt 2 lc rgb '#555555'
  set arrow from 10.1500955, graph 0 to 10.1500955, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' AdamW 10.2s' at 7.49433262, 2.04464373
  set arrow from 7.72676234, graph 0 to 7.72676234, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' Shampoo 7.7s' at 7.72676234, 2.10464373
  set arrow from 7.01390221, graph 0 to 7.01390221, graph 1 nohead dt 2 lc rgb '#555555'
  set label ' SOAP 7.0s' at 7.01390221, 2.16464373
  plot data index 3 using 1:2 with lines lw 2 lc rgb '#1f77b4' title 'AdamW', \
     data index 4 using 1:2 with lines lw 2 lc rgb '#2ca02c' title 'Shampoo', \
     data index 5 using 1:2 with lines lw 2 lc rgb '#d62728' title 'SOAP'
  unset multiplot
  unset output
}
