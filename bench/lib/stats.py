#!/usr/bin/env python3
"""Latency figures of one pgbench run, from its per-transaction logs.

usage: stats.py LOGFILE...   (the files pgbench -l writes, one per thread)
prints one line: transactions failed p50_ms p95_ms p99_ms mean_ms

A log line is "client_id transaction_no time script_no time_epoch time_us";
time (field 3) is the transaction's latency in microseconds, or "failed" /
"skipped" in place of a number. Percentiles come from every transaction,
never from pgbench's averages: an average hides exactly the tail that
pooling and admission control change.
"""
import math
import sys


def percentile(ordered, p):
    """Nearest rank: the smallest value with at least p % of values <= it."""
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def read_latencies_us(paths):
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
    return latencies, failed


def main(paths):
    latencies, failed = read_latencies_us(paths)
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
    )


if __name__ == "__main__":
    main(sys.argv[1:])
