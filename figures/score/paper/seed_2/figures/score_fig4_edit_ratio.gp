# repro figure 'score_fig4_edit_ratio': gnuplot score_fig4_edit_ratio.gp redraws it from score_fig4_edit_ratio.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 24 && ARG0[strlen(ARG0)-24:] eq '/score_fig4_edit_ratio.gp') { cd ARG0[1:strlen(ARG0)-24] }
data = 'score_fig4_edit_ratio.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1680,800 font 'sans,10'; set output 'score_fig4_edit_ratio.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1680,800 font 'sans,10' background '#ffffff'; set output 'score_fig4_edit_ratio.svg' }
  set multiplot layout 2,3
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Base'
  set xlabel 'Lev(y1,y2)/(|y1|+|y2|)'
  set key top right
  set style fill transparent solid 0.5 noborder
  set ylabel 'count'
  plot data index 0 using 1:2:(0.0555555556) with boxes title 'values'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'STaR D+'
  set xlabel 'Lev(y1,y2)/(|y1|+|y2|)'
  set key top right
  set style fill transparent solid 0.5 noborder
  set ylabel 'count'
  plot data index 1 using 1:2:(0.0555555556) with boxes title 'values'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Pair-SFT D'
  set xlabel 'Lev(y1,y2)/(|y1|+|y2|)'
  set key top right
  set style fill transparent solid 0.5 noborder
  set ylabel 'count'
  plot data index 2 using 1:2:(0.0555555556) with boxes title 'values'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'SCoRe'
  set xlabel 'Lev(y1,y2)/(|y1|+|y2|)'
  set key top right
  set style fill transparent solid 0.5 noborder
  set ylabel 'count'
  plot data index 3 using 1:2:(0.0555555556) with boxes title 'values'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'standard multi-turn RL'
  set xlabel 'Lev(y1,y2)/(|y1|+|y2|)'
  set key top right
  set style fill transparent solid 0.5 noborder
  set ylabel 'count'
  plot data index 4 using 1:2:(0.0555555556) with boxes title 'values'
  unset multiplot
  unset output
}
