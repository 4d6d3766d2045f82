# repro figure 'csp_perov_5_match_vs_k': gnuplot csp_perov_5_match_vs_k.gp redraws it from csp_perov_5_match_vs_k.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 25 && ARG0[strlen(ARG0)-25:] eq '/csp_perov_5_match_vs_k.gp') { cd ARG0[1:strlen(ARG0)-25] }
data = 'csp_perov_5_match_vs_k.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 800,500 font 'sans,10'; set output 'csp_perov_5_match_vs_k.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 800,500 font 'sans,10' background '#ffffff'; set output 'csp_perov_5_match_vs_k.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'perov_5: match rate against number of samples k'
  set xlabel 'k (samples per composition)'
  set ylabel 'match rate (%)'
  set yrange [0:100]
  set key bottom right
  plot data index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'template (cubic, random A/B)', \
     data index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'DiffCSP-style (ours)', \
     data index 2 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'GenMS compact (ours)', \
     data index 3 using 1:2 with points pt 7 ps 0.6 title 'DiffCSP (published)', \
     data index 4 using 1:2 with points pt 7 ps 0.6 title 'CDVAE (published)'
  unset output
}
