# repro figure 'score_fig5_pair_sft': gnuplot score_fig5_pair_sft.gp redraws it from score_fig5_pair_sft.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 22 && ARG0[strlen(ARG0)-22:] eq '/score_fig5_pair_sft.gp') { cd ARG0[1:strlen(ARG0)-22] }
data = 'score_fig5_pair_sft.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 800,500 font 'sans,10'; set output 'score_fig5_pair_sft.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 800,500 font 'sans,10' background '#ffffff'; set output 'score_fig5_pair_sft.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'Pair-SFT D: Δ(t1,t2) on fixed base y1 vs its own y1'
  set xlabel 'SFT step'
  set ylabel 'Δ (points)'
  set key top right
  plot data index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'fixed (base) first attempts', \
     data index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'self-generated first attempts'
  unset output
}
