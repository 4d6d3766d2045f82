# repro figure 'csp_perov_5_energy_parity': gnuplot csp_perov_5_energy_parity.gp redraws it from csp_perov_5_energy_parity.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 28 && ARG0[strlen(ARG0)-28:] eq '/csp_perov_5_energy_parity.gp') { cd ARG0[1:strlen(ARG0)-28] }
data = 'csp_perov_5_energy_parity.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 800,500 font 'sans,10'; set output 'csp_perov_5_energy_parity.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 800,500 font 'sans,10' background '#ffffff'; set output 'csp_perov_5_energy_parity.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'perov_5: CGCNN on U (MAE 0.121 eV/atom)'
  set xlabel 'heat_ref, DFT (eV/atom)'
  set ylabel 'predicted (eV/atom)'
  set key top right
  set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
  plot data index 0 using 1:2 with points pt 7 ps 0.6 title 'U structures', \
     data index 1 using 1:2 with lines lw 2 title 'y = x'
  unset output
}
