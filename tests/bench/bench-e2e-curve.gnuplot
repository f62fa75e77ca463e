# SPDX-License-Identifier: MIT
#
# bench-e2e-curve.gnuplot - speed for RAM, from bench-e2e.sh. Called with
#   gnuplot -e "data='D'; out='PNG'; subtitle='S'; skew='A:H'" \
#           -e "disk_u='U'; disk_s='S'; null_u='U'; null_s='S'"
# D: one row per configuration: name, RAM held (MiB), seconds of the uniform
# run, seconds of the skewed phase (medians; "-" when not measured).
# disk_* and null_*: the disk swap file's and the null FUSE server's
# seconds, drawn across as references ("-" when not run).

set terminal pngcairo size 1400,680 font ",11" noenhanced
set output out
set datafile missing "-"
set grid lc rgb "#d0d0d0"
set border 3
set xtics nomirror
set ytics nomirror
set xrange [*:*]
set yrange [0:*]
# Room for the labels right of the points and above the highest.
set offsets graph 0.03, graph 0.22, graph 0.08, 0
set xlabel "RAM held for the data in swap (MiB)"
set ylabel "seconds (median)"
set key below horizontal maxrows 1 noenhanced
set pointsize 1.6

set multiplot layout 1, 2 title "Time against RAM held: ".subtitle

ref(v) = (v eq "-" || v eq "") ? NaN : real(v)

set title "Uniform run (fill, passes, uniform random, verify)"
plot data using 2:3 with points pt 7 lc rgb "#9400d3" title "configuration", \
	'' using 2:3:1 with labels left offset 1, 0.5 font ",9" notitle, \
	ref(disk_u) with lines dt 2 lc rgb "#606060" title "disk swap file", \
	ref(null_u) with lines dt 3 lc rgb "#009e73" title "null FUSE server (transport floor)"

set title "Skewed phase (--skew ACCESS%:HOT%, ".skew.")"
plot data using 2:4 with points pt 7 lc rgb "#e69f00" title "configuration", \
	'' using 2:4:1 with labels left offset 1, 0.5 font ",9" notitle, \
	ref(disk_s) with lines dt 2 lc rgb "#606060" title "disk swap file", \
	ref(null_s) with lines dt 3 lc rgb "#009e73" title "null FUSE server (transport floor)"
unset multiplot
