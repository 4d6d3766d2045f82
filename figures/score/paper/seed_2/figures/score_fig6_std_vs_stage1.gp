# repro figure 'score_fig6_std_vs_stage1': gnuplot score_fig6_std_vs_stage1.gp redraws it from score_fig6_std_vs_stage1.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 27 && ARG0[strlen(ARG0)-27:] eq '/score_fig6_std_vs_stage1.gp') { cd ARG0[1:strlen(ARG0)-27] }
data = 'score_fig6_std_vs_stage1.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1120,400 font 'sans,10'; set output 'score_fig6_std_vs_stage1.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1120,400 font 'sans,10' background '#ffffff'; set output 'score_fig6_std_vs_stage1.svg' }
  set multiplot layout 1,2
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title '(a) training accuracy per turn'
  set xlabel 'step'
  set key top right
  plot data index 0 using 1:2 with lines lw 2 title 'SCoRe Stage I turn 1', \
     data index 1 using 1:2 with lines lw 2 title 'SCoRe Stage I turn 2', \
     data index 2 using 1:2 with lines lw 2 title 'standard multi-turn RL turn 1', \
     data index 3 using 1:2 with lines lw 2 title 'standard multi-turn RL turn 2'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title '(b) answer-change rate (y2 != y1)'
  set xlabel 'step'
  set key top right
  plot data index 4 using 1:2 with lines lw 2 title 'SCoRe Stage I', \
     data index 5 using 1:2 with lines lw 2 title 'standard multi-turn RL'
  unset multiplot
  unset output
}
