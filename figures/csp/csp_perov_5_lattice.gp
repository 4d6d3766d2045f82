# repro figure 'csp_perov_5_lattice': gnuplot csp_perov_5_lattice.gp redraws it from csp_perov_5_lattice.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 22 && ARG0[strlen(ARG0)-22:] eq '/csp_perov_5_lattice.gp') { cd ARG0[1:strlen(ARG0)-22] }
data = 'csp_perov_5_lattice.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 800,500 font 'sans,10'; set output 'csp_perov_5_lattice.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 800,500 font 'sans,10' background '#ffffff'; set output 'csp_perov_5_lattice.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'perov_5: lattice lengths of first samples (valid only)'
  set xlabel 'lattice length (Å)'
  set key top right
  set style fill transparent solid 0.5 noborder
  set ylabel 'density'
  plot data index 0 using 1:2:(0.104402008) with boxes title 'data (U references)', \
     data index 1 using 1:2:(0.104402008) with boxes title 'template (cubic, random A/B)', \
     data index 2 using 1:2:(0.104402008) with boxes title 'DiffCSP-style (ours)', \
     data index 3 using 1:2:(0.104402008) with boxes title 'GenMS compact (ours)'
  unset output
}
