# repro figure 'genms_grid': gnuplot genms_grid.gp redraws it from genms_grid.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 13 && ARG0[strlen(ARG0)-13:] eq '/genms_grid.gp') { cd ARG0[1:strlen(ARG0)-13] }
data = 'genms_grid.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 800,500 font 'sans,10'; set output 'genms_grid.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 800,500 font 'sans,10' background '#ffffff'; set output 'genms_grid.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Table 2: best energy found against L structures per formula'
  set xlabel 'L (structures per formula)'
  set ylabel 'formation energy (eV/atom)'
  set logscale x
  set key outside right top
  plot data index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'H = 1, GNN', \
     data index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'H = 1, lookup', \
     data index 2 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'H = 5, GNN', \
     data index 3 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'H = 5, lookup', \
     data index 4 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'H = 25, GNN', \
     data index 5 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'H = 25, lookup'
  unset output
}
