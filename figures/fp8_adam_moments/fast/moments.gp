# repro figure 'moments': gnuplot moments.gp redraws it from moments.tsv (from any folder).
# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k').
if (strlen(ARG0) > 10 && ARG0[strlen(ARG0)-10:] eq '/moments.gp') { cd ARG0[1:strlen(ARG0)-10] }
data = 'moments.tsv'
do for [fmt in "png svg"] {
  if (fmt eq 'png') { set terminal pngcairo noenhanced size 1100,500 font 'sans,10'; set output 'moments.png' }
  if (fmt eq 'svg') { set terminal svg noenhanced size 1100,500 font 'sans,10' background '#ffffff'; set output 'moments.svg' }
  reset
  set datafile missing NaN
  set grid lc rgb '#dddddd'
  set title 'AdamW moments in FP8: validation loss [preset fast; fp32 model; moment casts scaled per tensor, never saturate] - NO RUN DIVERGED'
  set xlabel 'step'
  set ylabel 'validation loss'
  set key outside right top
  plot data index 0 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'm fp32, v fp32', \
     data index 1 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'm fp32, v e4m3fn', \
     data index 2 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'm fp32, v e5m2', \
     data index 3 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'm e4m3fn, v fp32', \
     data index 4 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'm e4m3fn, v e4m3fn', \
     data index 5 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'm e4m3fn, v e5m2', \
     data index 6 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'm e5m2, v fp32', \
     data index 7 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'm e5m2, v e4m3fn', \
     data index 8 using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'm e5m2, v e5m2'
  unset output
}
