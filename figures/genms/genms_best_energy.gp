# repro figure 'genms_best_energy': gnuplot genms_best_energy.gp redraws it from genms_best_energy.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 20 && ARG0[strlen(ARG0)-20:] eq '/genms_best_energy.gp') { cd ARG0[1:strlen(ARG0)-20] }
data = 'genms_best_energy.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 800,500 font 'sans,10'; set output 'genms_best_energy.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 800,500 font 'sans,10' background '#ffffff'; set output 'genms_best_energy.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Best of the W structures returned, per request'
  set xlabel 'request x seed (see requests.tsv)'
  set ylabel 'formation energy (eV/atom)'
  set key outside right top
  set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
  plot data index 0 using 1:2 with points pt 7 ps 0.6 title 'GenMS (ours), GNN', \
     data index 1 using 1:2 with points pt 7 ps 0.6 title 'GenMS (ours), lookup', \
     data index 2 using 1:2 with points pt 7 ps 0.6 title 'template + GNN best-of-L, GNN', \
     data index 3 using 1:2 with points pt 7 ps 0.6 title 'template + GNN best-of-L, lookup', \
     data index 4 using 1:2 with points pt 7 ps 0.6 title 'CIF-LM best-of-L by GNN, GNN', \
     data index 5 using 1:2 with points pt 7 ps 0.6 title 'CIF-LM best-of-L by GNN, lookup', \
     data index 6 using 1:2 with points pt 7 ps 0.6 title 'request''s source formula (DFT, U)'
  unset output
}
