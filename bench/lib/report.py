#!/usr/bin/env python3
"""Turns the runs of one bench/run into results.md and the charts.

usage: report.py RESULTS_DIR CHART_GP

Reads RESULTS_DIR/meta.tsv (what each scenario and configuration is, the
baselines, targets and skipped configurations), RESULTS_DIR/runs.tsv (one row
per measured pgbench run) and RESULTS_DIR/env.tsv (date, versions, machine).
Writes RESULTS_DIR/results.md and, for each scenario that varies the client
count, RESULTS_DIR/<scenario>.dat and <scenario>.png (gnuplot, CHART_GP).

Per configuration it reports the median and min-max over the rounds. The
ratios against the baseline are computed pair by pair, within one round (the
two runs ran a few seconds apart, under about the same background load of
the shared machine), and then summarised by their median and min-max.
"""
import csv
import math
import os
import statistics
import subprocess
import sys


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter="\t"))


class Scenario:
    def __init__(self, name, baseline, description):
        self.name, self.baseline, self.description = name, baseline, description
        self.configs = []  # (name, description), in run order
        self.targets = []  # (config, against, min_ratio, label)
        self.skips = {}  # config -> reason


def load_meta(path):
    scenarios = {}
    for row in read_tsv(path):
        kind, rest = row[0], row[1:]
        if kind == "scenario":
            scenarios[rest[0]] = Scenario(*rest[:3])
        elif kind == "config":
            scenarios[rest[0]].configs.append((rest[1], rest[2]))
        elif kind == "target":
            scenarios[rest[0]].targets.append((rest[1], rest[2], float(rest[3]), rest[4]))
        elif kind == "skip":
            scenarios[rest[0]].skips[rest[1]] = rest[2]
    return scenarios


def load_runs(path):
    rows = read_tsv(path)
    if not rows:
        return []
    header, runs = rows[0], []
    for row in rows[1:]:
        r = dict(zip(header, row))
        r["ok"] = r["rc"] == "0" and int(r["transactions"]) > 0
        for key in ("tps", "p50_ms", "p95_ms", "p99_ms", "mean_ms"):
            r[key] = float(r[key])
        # CPU per transaction (older results have no such columns).
        for key in ("client_cpu_us", "other_cpu_us", "server_cpu_us", "p99_steady_ms"):
            r[key] = float(r.get(key) or "nan")
        r["clients"] = int(r["clients"])
        runs.append(r)
    return runs


def fmt_tps(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v


def fmt_ms(v):
    if v < 10:
        return "%.2f" % v
    return "%.1f" % v if v < 100 else "%.0f" % v


def fmt_ratio(v):
    return "%.3f" % v


def spread(values, fmt):
    """median (min–max) of the values, or the single value of one round."""
    if not values:
        return "—"
    med = fmt(statistics.median(values))
    if len(values) == 1:
        return med
    return "%s (%s–%s)" % (med, fmt(min(values)), fmt(max(values)))


def pair_ratios(runs, config, against, key, clients=None, stream=None):
    """config / against of one figure, per round, for matching (clients, stream)."""
    base = {(r["round"], r["clients"], r["stream"]): r for r in runs
            if r["config"] == against and r["ok"]}
    ratios = []
    for r in runs:
        if r["config"] != config or not r["ok"]:
            continue
        if clients is not None and r["clients"] != clients:
            continue
        if stream is not None and r["stream"] != stream:
            continue
        b = base.get((r["round"], r["clients"], r["stream"]))
        if b and b[key] > 0:
            ratios.append(r[key] / b[key])
    return ratios


def scenario_table(sc, runs):
    # The stream that matters first: main, or the light queries of mixed.
    order = {"main": 0, "light": 1, "heavy": 2}
    streams = sorted(dict.fromkeys(r["stream"] for r in runs), key=lambda s: order.get(s, 3))
    show_stream = len(streams) > 1
    base = sc.baseline
    head = ["configuration", "clients"] + (["stream"] if show_stream else []) + [
        "tps", "p50 ms", "p95 ms", "p99 ms", "p99 steady ms", "tps / %s" % base,
        "p99 / %s" % base, "server CPU µs/tx", "pgbench CPU µs/tx", "other CPU µs/tx",
        "runs ok"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for config, _ in sc.configs:
        if config in sc.skips:
            cells = [config, "—"] + (["—"] if show_stream else []) + [
                "skipped: " + sc.skips[config]] + ["—"] * (len(head) - 3 - show_stream)
            lines.append("| " + " | ".join(cells) + " |")
            continue
        mine = [r for r in runs if r["config"] == config]
        keys = sorted({(streams.index(r["stream"]), r["clients"]) for r in mine})
        for si, clients in keys:
            stream = streams[si]
            group = [r for r in mine if r["clients"] == clients and r["stream"] == stream]
            ok = [r for r in group if r["ok"]]
            col = lambda k: [r[k] for r in ok]
            if config == base:
                tps_ratio = p99_ratio = "1 (baseline)"
            else:
                tps_ratio = spread(pair_ratios(runs, config, base, "tps", clients, stream), fmt_ratio)
                p99_ratio = spread(pair_ratios(runs, config, base, "p99_ms", clients, stream), fmt_ratio)
            cells = [config, str(clients)] + ([stream] if show_stream else []) + [
                spread(col("tps"), fmt_tps), spread(col("p50_ms"), fmt_ms),
                spread(col("p95_ms"), fmt_ms), spread(col("p99_ms"), fmt_ms),
                spread([v for v in col("p99_steady_ms") if not math.isnan(v)], fmt_ms),
                tps_ratio, p99_ratio,
                spread([v for v in col("server_cpu_us") if not math.isnan(v)], fmt_tps),
                spread([v for v in col("client_cpu_us") if not math.isnan(v)], fmt_tps),
                spread([v for v in col("other_cpu_us") if not math.isnan(v)], fmt_tps),
                "%d/%d" % (len(ok), len(group))]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def target_lines(sc, runs):
    lines = []
    for config, against, threshold, label in sc.targets:
        ratios = pair_ratios(runs, config, against, "tps")
        if not ratios:
            lines.append("- target %s: not measured" % label)
            continue
        med = statistics.median(ratios)
        verdict = "**met**" if med >= threshold else "**missed**"
        line = "- target %s: tps %s / %s = %s per-round median → %s" % (
            label, config, against, spread(ratios, fmt_ratio), verdict)
        if len(ratios) > 1 and min(ratios) < threshold <= max(ratios):
            line += " (the per-round ratios fall on both sides of %.2f: " \
                    "within the noise of this machine)" % threshold
        lines.append(line)
    return lines


def chart(sc, runs, outdir, chart_gp):
    """Throughput and p99 against client count, one line per configuration."""
    main = [r for r in runs if r["ok"] and r["stream"] == "main"]
    if len({r["clients"] for r in main}) < 2:
        return None
    names, blocks = [], []
    for config, _ in sc.configs:
        mine = [r for r in main if r["config"] == config]
        if not mine:
            continue
        rows = []
        for clients in sorted({r["clients"] for r in mine}):
            tps = [r["tps"] for r in mine if r["clients"] == clients]
            p99 = [r["p99_ms"] for r in mine if r["clients"] == clients]
            rows.append("%d %g %g %g %g %g %g" % (
                clients, statistics.median(tps), min(tps), max(tps),
                statistics.median(p99), min(p99), max(p99)))
        names.append(config)
        blocks.append("# %s\n# clients tps_med tps_min tps_max p99_med p99_min p99_max\n%s\n"
                      % (config, "\n".join(rows)))
    data = os.path.join(outdir, sc.name + ".dat")
    png = os.path.join(outdir, sc.name + ".png")
    with open(data, "w") as f:
        f.write("\n\n".join(blocks))  # two blank lines: one gnuplot index per config
    cmd = ["gnuplot", "-e", "datafile='%s'; outfile='%s'; names='%s'; scenario='%s'"
           % (data, png, " ".join(names), sc.name), chart_gp]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("chart of %s failed: %s" % (sc.name, getattr(e, "stderr", e)), file=sys.stderr)
        return None
    return os.path.basename(png)


def main(outdir, chart_gp):
    scenarios = load_meta(os.path.join(outdir, "meta.tsv"))
    runs = load_runs(os.path.join(outdir, "runs.tsv"))
    env = read_tsv(os.path.join(outdir, "env.tsv"))
    out = ["# pg_poolgov benchmark results", ""]
    out += ["- %s: %s" % (k, v) for k, v in env]
    out += ["", "CPU columns: *server CPU µs/tx* is the user + system time of the "
            "server's processes (the postmaster, its live backends and the ones that "
            "exited during the run) and of PgBouncer per transaction, which other load "
            "on the machine does not change; *pgbench CPU µs/tx* is the client's own "
            "user + system time "
            "per transaction; *other CPU µs/tx* is the rest of the machine's busy time per "
            "transaction meanwhile (the server, PgBouncer, and anything else running). "
            "*p99 steady* leaves out the transactions that ended in the run's first or "
            "last second (every client's first transaction at once; the clients "
            "disconnecting, and one backend per client exiting, at the end)."]
    if any(k == "mode" and v.startswith("smoke") for k, v in env):
        out += ["", "**Smoke run: these figures only show that the harness works; "
                "they are not measurements.**"]
    out += ["", "Figures: median over the rounds, (min–max) in brackets. Ratios: "
            "configuration / baseline of the same round and client count, then the "
            "median (min–max) of those per-round ratios. tps > 1 is faster, p99 < 1 "
            "is better.", ""]
    for sc in scenarios.values():
        mine = [r for r in runs if r["scenario"] == sc.name]
        out += ["## %s" % sc.name, "", sc.description, ""]
        out += ["- %s: %s" % c for c in sc.configs]
        out += [""] + scenario_table(sc, mine) + [""]
        targets = target_lines(sc, mine)
        if targets:
            out += targets + [""]
        png = chart(sc, mine, outdir, chart_gp)
        if png:
            out += ["![%s: throughput and p99 against clients](%s)" % (sc.name, png), ""]
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
