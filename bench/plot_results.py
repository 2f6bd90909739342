#!/usr/bin/python3
"""Charts network_bench results: latency CDFs and throughput against N.

Usage: /usr/bin/python3 bench/plot_results.py [RESULTS_DIR or JSON files...]

Reads bench/results/network_bench-*.json (or the files given), keeps the
newest result of each label (row), writes RESULTS_DIR/network_bench.png and
prints one table row per label. Installs Debian's python3-matplotlib with apt
if it is missing (run it with /usr/bin/python3, which sees Debian's packages).
"""

import glob
import json
import math
import os
import subprocess
import sys


def import_pyplot():
    try:
        import matplotlib
    except ImportError:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        print("installing python3-matplotlib", file=sys.stderr)
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq",
                               "--no-install-recommends", "python3-matplotlib"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def load(paths):
    """The newest result per label, sorted by (rate, nodes, label)."""
    newest = {}
    for path in paths:
        with open(path) as f:
            try:
                result = json.load(f)
            except json.JSONDecodeError as e:
                print(f"skipping {path}: {e}", file=sys.stderr)
                continue
        if result.get("bench") != "network_bench":
            continue
        result["_path"] = path
        label = result["label"]
        if label not in newest or result["timestamp"] > newest[label]["timestamp"]:
            newest[label] = result
    return sorted(newest.values(),
                  key=lambda r: (r["backlog"] > 0, r["rate"] > 0, r["nodes"],
                                 r["label"]))


def num(value, digits=0):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def print_table(results):
    header = ["row", "N", "rate/s", "to-all/s", "delivery p50/p99 ms",
              "to-all p50/p99 ms", "dup/node/env", "wire B/deliv",
              "CPU us/deliv", "peak RSS MB", "catch-up/s", "idle B/link/min",
              "commit"]
    rows = []
    for r in results:
        per = r["latency_per_delivery_ms"]
        to_all = r["latency_time_to_all_ms"]
        rows.append([
            r["label"], str(r["nodes"]),
            "max" if r["rate"] == 0 else num(r["rate"]),
            num(r["throughput_delivered_to_all_per_s"]),
            f"{num(per['p50'], 1)} / {num(per['p99'], 1)}",
            f"{num(to_all['p50'], 1)} / {num(to_all['p99'], 1)}",
            num(r["duplicates_per_node_per_envelope"], 2),
            num(r["wire_bytes_per_delivery"]),
            num((r["cpu_s_per_delivery"] or math.nan) * 1e6),
            num(r["peak_rss_mb_max"], 1),
            num(r["catchup_per_s"]),
            num(r["idle_bytes_per_link_per_min"]),
            r["commit"][:7] + ("-dirty" if r.get("commit_dirty") else ""),
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for line in [header] + rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(line, widths)))


def plot(results, out_path):
    plt = import_pyplot()
    fig, (cdf_ax, tput_ax) = plt.subplots(1, 2, figsize=(13, 5.2))

    quantiles = [q / 100 for q in range(101)]
    for r in results:
        if r["backlog"] > 0:
            continue  # its traffic phase is a short warm-up, not a latency row
        to_all = r["latency_time_to_all_ms"].get("cdf_percentiles_0_to_100")
        per = r["latency_per_delivery_ms"].get("cdf_percentiles_0_to_100")
        if not to_all or any(v is None for v in to_all):
            continue
        line, = cdf_ax.plot(to_all, quantiles, label=f"{r['label']} time to all")
        if per and not any(v is None for v in per):
            cdf_ax.plot(per, quantiles, linestyle="--", color=line.get_color(),
                        label=f"{r['label']} per delivery")
    cdf_ax.axvline(15, color="grey", linestyle=":", linewidth=1)
    cdf_ax.text(15, 0.5, " 15 ms: p99 target, N=16 at a light rate",
                color="grey", fontsize=8, rotation=90, va="center")
    cdf_ax.set_xscale("log")
    cdf_ax.set_xlabel("latency from Send (ms, log scale)")
    cdf_ax.set_ylabel("fraction of envelopes / deliveries")
    cdf_ax.set_title("Latency CDF")
    cdf_ax.grid(True, which="both", alpha=0.3)
    cdf_ax.legend(fontsize=7, loc="lower right")

    max_rate = sorted((r for r in results if r["rate"] == 0 and r["backlog"] == 0),
                      key=lambda r: r["nodes"])
    if max_rate:
        nodes = [r["nodes"] for r in max_rate]
        tput_ax.plot(nodes, [r["throughput_delivered_to_all_per_s"]
                             for r in max_rate],
                     marker="o", label="delivered to all audience")
        tput_ax.plot(nodes, [r["offered_per_s"] for r in max_rate],
                     marker="x", linestyle="--", label="offered (Send returned)")
        for r in max_rate:
            tput_ax.annotate(num(r["throughput_delivered_to_all_per_s"]),
                             (r["nodes"], r["throughput_delivered_to_all_per_s"]),
                             textcoords="offset points", xytext=(4, 6),
                             fontsize=8)
        tput_ax.set_xticks(nodes)
    tput_ax.plot([16], [1700], marker="*", markersize=12, linestyle="none",
                 color="grey", label="target: 1 700/s at N=16")
    tput_ax.set_xlabel("nodes (3 links each, audience all, 1 KiB bodies)")
    tput_ax.set_ylabel("envelopes per second")
    tput_ax.set_title("Throughput at max offered rate")
    tput_ax.set_ylim(bottom=0)
    tput_ax.grid(True, alpha=0.3)
    tput_ax.legend(fontsize=8)

    commits = sorted({r["commit"][:7] + ("-dirty" if r.get("commit_dirty") else "")
                      for r in results})
    machine = results[0]["machine"]
    fig.suptitle(f"network_bench, commit {', '.join(commits)} — "
                 f"{machine.get('nproc')} × {machine.get('cpu_model')}, "
                 f"{machine.get('kernel')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    print(f"chart: {out_path}")


def main(argv):
    args = argv[1:] or [os.path.join(os.path.dirname(__file__), "results")]
    if len(args) == 1 and os.path.isdir(args[0]):
        out_dir = args[0]
        paths = glob.glob(os.path.join(out_dir, "network_bench-*.json"))
    else:
        paths = args
        out_dir = os.path.dirname(paths[0]) or "."
    results = load(paths)
    if not results:
        print("no network_bench results found", file=sys.stderr)
        return 1
    print_table(results)
    plot(results, os.path.join(out_dir, "network_bench.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
