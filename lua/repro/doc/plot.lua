-- Docstrings of repro.plot (figures drawn by gnuplot).
return {
  ["plot.lines"] = [=[plot.lines{file =, title =, xlabel =, ylabel =, logx =, logy =, xrange =, yrange =, key =, series = {{name =, x =, y =, style =, color =, nokey =}, ...}, annotations =}
Line plot: writes FILE.tsv (the data), FILE.gp (the gnuplot script) and, with gnuplot installed, FILE.png and FILE.svg; `gnuplot FILE.gp` redraws it from the data alone.]=],
  ["plot.scatter"] = [=[plot.scatter{file =, series = {{name =, x =, y =}, ...}, ...}
As plot.lines, drawn with points.]=],
  ["plot.histogram"] = [=[plot.histogram{file =, values = {...} | series = {{name =, values =}, ...}, bins = 30, density =, range = {lo, hi}}
Histogram of values (one or several series), written and drawn as plot.lines.]=],
  ["plot.heatmap"] = [=[plot.heatmap{file =, matrix = {{...}, ...}, x =, y =, cblabel =, logcb =}
Heat map of a matrix, written and drawn as plot.lines.]=],
  ["plot.panels"] = [=[plot.panels{file =, cols =, title =, width =, height =, panels = {{kind = "lines", ...}, ...}}
Several plots of the kinds above in one figure, laid out in cols columns.]=],
  ["plot.render"] = [=[plot.render(gp_path) -> true | false, message
Run gnuplot on a written script from its folder; on failure returns false and gnuplot's message (also written to stderr).]=],
  ["plot.available"] = [=[plot.available([prog]) -> boolean
Whether the gnuplot program (REPRO_GNUPLOT, else gnuplot on PATH, or prog) runs.]=],
  ["plot.set_gnuplot"] = [=[plot.set_gnuplot(prog)
Use prog (a path or a name on PATH) as gnuplot; nil restores the default.]=],
}
