# repro figure 'csp_perov_5_min_distance': gnuplot csp_perov_5_min_distance.gp redraws it from csp_perov_5_min_distance.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 27 && ARG0[strlen(ARG0)-27:] eq '/csp_perov_5_min_distance.gp') { cd ARG0[1:strlen(ARG0)-27] }
data = 'csp_perov_5_min_distance.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 800,500 font 'sans,10'; set output 'csp_perov_5_min_distance.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 800,500 font 'sans,10' background '#ffffff'; set output 'csp_perov_5_min_distance.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'perov_5: minimum interatomic distance of first samples'
  set xlabel 'min distance (Å)'
  set key top right
  set style fill transparent solid 0.5 noborder
  set ylabel 'density'
  plot data index 0 using 1:2:(0.0494517655) with boxes title 'data (U references)', \
     data index 1 using 1:2:(0.0494517655) with boxes title 'template (cubic, random A/B)', \
     data index 2 using 1:2:(0.0494517655) with boxes title 'DiffCSP-style (ours)', \
     data index 3 using 1:2:(0.0494517655) with boxes title 'GenMS compact (ours)'
  unset output
}
