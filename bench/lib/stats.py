#!/usr/bin/env python3
"""Latency figures of one pgbench run, from its per-transaction logs.

usage: stats.py LOGFILE...   (the files pgbench -l writes, one per thread)
prints one line: transactions failed p50_ms p95_ms p99_ms mean_ms p99_steady_ms

A log line is "client_id transaction_no time script_no time_epoch time_us";
time (field 3) is the transaction's latency in microseconds, or "failed" /
"skipped" in place of a number. Percentiles come from every transaction,
never from pgbench's averages: an average hides exactly the tail that
pooling and admission control change.

p99_steady_ms leaves out the transactions that ended in the run's first or
last second (by time_epoch/time_us, the end of each transaction): at the
start every client's first transaction arrives at once, at the end pgbench's
clients disconnect one by one, and with one backend per client (direct,
pg_poolgov) hundreds of backends then exit while the last transactions still
wait their turn. The plain p99 counts those too; the steady one is the
queue's own tail.
"""
import math
import sys


def percentile(ordered, p):
    """Nearest rank: the smallest value with at least p % of values <= it."""
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def read_latencies_us(paths, ends=None):
    """Latencies (us) and the failed count; with `ends`, a list, appends
    (end time in us, latency) of each transaction whose line has them."""
    latencies, failed = [], 0
    for path in paths:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 3:
                    continue
                try:
                    latencies.append(int(fields[2]))
                except ValueError:
                    failed += 1
                    continue
                if ends is not None and len(fields) >= 6:
                    try:
                        ends.append((int(fields[4]) * 1000000 + int(fields[5]), latencies[-1]))
                    except ValueError:
                        pass
    return latencies, failed


def steady(ends, margin_us=1000000):
    """Latencies of the transactions that ended more than margin_us after
    the first and before the last one ended."""
    if not ends:
        return []
    first = min(e for e, _ in ends)
    last = max(e for e, _ in ends)
    return sorted(lat for e, lat in ends if first + margin_us < e < last - margin_us)


def main(paths):
    ends = []
    latencies, failed = read_latencies_us(paths, ends)
    latencies.sort()
    ms = lambda us: us / 1000.0
    mean = ms(sum(latencies) / len(latencies)) if latencies else float("nan")
    print(
        len(latencies),
        failed,
        "%.3f" % ms(percentile(latencies, 50)),
        "%.3f" % ms(percentile(latencies, 95)),
        "%.3f" % ms(percentile(latencies, 99)),
        "%.3f" % mean,
        "%.3f" % ms(percentile(steady(ends), 99)),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
