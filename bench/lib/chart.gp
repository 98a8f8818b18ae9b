# Throughput and p99 latency against client count, one line per
# configuration, medians with min-max error bars.
# Variables (gnuplot -e): datafile, outfile, names (space-separated, one per
# index block of datafile), scenario.
set terminal pngcairo size 1100,450 font ",10" noenhanced
set output outfile
set datafile commentschars "#"
set grid
set logscale x 2
# Room around the first and last client count, so their error bars show.
set offsets graph 0.05, graph 0.05, 0, 0
set xlabel "clients"
set multiplot layout 1,2 title scenario." (median, min-max over rounds)"

set title "throughput"
set key top right
set ylabel "transactions/s"
set yrange [0:*]
plot for [i=1:words(names)] datafile index (i-1) using 1:2:3:4 \
     with yerrorlines lw 2 pt 7 title word(names, i)

set title "p99 latency"
set key top left
set ylabel "ms (log scale)"
set logscale y
set yrange [*:*]
plot for [i=1:words(names)] datafile index (i-1) using 1:5:6:7 \
     with yerrorlines lw 2 pt 7 title word(names, i)

unset multiplot
