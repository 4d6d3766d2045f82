# repro figure 'score_fig8_attempts': gnuplot score_fig8_attempts.gp redraws it from score_fig8_attempts.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 22 && ARG0[strlen(ARG0)-22:] eq '/score_fig8_attempts.gp') { cd ARG0[1:strlen(ARG0)-22] }
data = 'score_fig8_attempts.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 800,500 font 'sans,10'; set output 'score_fig8_attempts.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 800,500 font 'sans,10' background '#ffffff'; set output 'score_fig8_attempts.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Greedy accuracy at attempt k (sequential self-correction)'
  set xlabel 'attempt'
  set ylabel 'accuracy (%)'
  set key top right
  plot data index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'Base', \
     data index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'STaR D+', \
     data index 2 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'Pair-SFT D', \
     data index 3 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'SCoRe'
  unset output
}
