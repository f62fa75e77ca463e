# SPDX-License-Identifier: MIT
#
# bench-e2e.gnuplot - the plot of bench-e2e.sh. Called with
#   gnuplot -e "times='T'; ratios='R'; mem='M'; out='PNG'; n=N; nphases=P; subtitle='S'"
# T: one row per phase: name, then per configuration median min max;
# R: one row per phase: name, then per configuration median / zram-lz4's;
# M: one row per configuration: name, RAM held (MiB), data in swap (MiB).
# The first row of T and R names the columns (configurations); M has no
# header row (a histogram would draw it as an empty group).

set terminal pngcairo size 1400,1000 font ",11" noenhanced
set output out
set datafile missing "-"
set style fill solid 0.85 border -1
set boxwidth 0.9 relative
set grid ytics lc rgb "#d0d0d0"
set key top left reverse Left noenhanced
set border 3
set xtics nomirror
set ytics nomirror
set yrange [0:*]

set multiplot title "swapdev end-to-end: ".subtitle
set size 1, 0.56
set origin 0, 0.42
set title "Seconds per phase (median; bars: min to max)"
set xrange [-0.5:nphases - 0.5]
set ylabel "seconds"
set style data histogram
set style histogram errorbars gap 2 lw 1.5
plot for [i = 1:n] times using (column(3 * i - 1)):(column(3 * i)):(column(3 * i + 1)):xtic(1) \
	title columnhead(3 * i - 1)

set size 0.64, 0.42
set origin 0, 0
set title "Median / zram-lz4 median (1 = as fast as zram)"
set ylabel "ratio"
set style histogram clustered gap 2
set key top left
plot for [i = 1:n] ratios using (column(i + 1)):xtic(1) title columnhead(i + 1), \
	1 with lines lc rgb "black" dt 2 notitle

set size 0.36, 0.42
set origin 0.64, 0
set title "RAM held for the same data in swap (hold)"
set ylabel "MiB"
set style histogram clustered gap 1
set xrange [-0.5:n - 0.5]
set xtics rotate by 30 right
set key below
plot mem using 3:xtic(1) title "data in swap" lc rgb "#b0b0b0", \
	'' using 2 title "RAM held by the tier" lc rgb "#9400d3", \
	'' using ($0 + 0.17):($2):(sprintf("%.0f", $2)) with labels offset 0, 0.9 notitle
unset multiplot
