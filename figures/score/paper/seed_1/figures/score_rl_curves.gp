# repro figure 'score_rl_curves': gnuplot score_rl_curves.gp redraws it from score_rl_curves.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 18 && ARG0[strlen(ARG0)-18:] eq '/score_rl_curves.gp') { cd ARG0[1:strlen(ARG0)-18] }
data = 'score_rl_curves.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1680,400 font 'sans,10'; set output 'score_rl_curves.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1680,400 font 'sans,10' background '#ffffff'; set output 'score_rl_curves.svg' }
  set multiplot layout 1,3 title 'RL arms: training reward (10-step mean) and test Δ'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'training r(y1)'
  set xlabel 'step'
  set key outside right top
  plot data index 0 using 1:2 with lines lw 2 title 'SCoRe Stage I r1', \
     data index 1 using 1:2 with lines lw 2 title 'standard multi-turn RL r1', \
     data index 2 using 1:2 with lines lw 2 title 'SCoRe r1', \
     data index 3 using 1:2 with lines lw 2 title 'w/o reward shaping r1', \
     data index 4 using 1:2 with lines lw 2 title 'w/o Stage I r1', \
     data index 5 using 1:2 with lines lw 2 title 'w/o multi-turn r1', \
     data index 6 using 1:2 with lines lw 2 title 'diagnostic R2=(1+a)r2 r1'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'training r(y2)'
  set xlabel 'step'
  set key top right
  plot data index 7 using 1:2 with lines lw 2 title 'SCoRe Stage I r2', \
     data index 8 using 1:2 with lines lw 2 title 'standard multi-turn RL r2', \
     data index 9 using 1:2 with lines lw 2 title 'SCoRe r2', \
     data index 10 using 1:2 with lines lw 2 title 'w/o reward shaping r2', \
     data index 11 using 1:2 with lines lw 2 title 'w/o Stage I r2', \
     data index 12 using 1:2 with lines lw 2 title 'diagnostic R2=(1+a)r2 r2'
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'test Δ(t1,t2), points'
  set xlabel 'step'
  set ylabel 'points'
  set key top right
  plot data index 13 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'SCoRe Stage I', \
     data index 14 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'standard multi-turn RL', \
     data index 15 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'SCoRe', \
     data index 16 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'w/o reward shaping', \
     data index 17 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'w/o Stage I', \
     data index 18 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'w/o multi-turn', \
     data index 19 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'diagnostic R2=(1+a)r2'
  unset multiplot
  unset output
}
