"""The benchmark's table (Markdown) and plot (PNG), from bench/run.py's
summary. Kept apart from the run so that a results.json can be re-rendered:
  /usr/bin/python3 bench/report.py bench/results/<stamp>
"""

import json
import os
import sys

TITLES = {
    "get": "GET (pre-populated keys)",
    "post": "POST 1 KiB (random keys)",
    "mix": "90/10 GET/POST",
    "healthz": "GET /healthz",
}
CEILING = {
    "get": "driver",
    "post": "driver",
    "mix": "driver",
    "healthz": "hyper",
}


def ms(us):
    return f"{us / 1000:.2f}"


def pair(row, key, fmt):
    s, c = row.get("service", {}).get(key), row.get("ceiling", {}).get(key)
    return f"{fmt(s) if s is not None else '-'} / {fmt(c) if c is not None else '-'}"


def table(info, cases, line):
    m = info["machine"]
    out = []
    out.append(f"# kask benchmark, {info['date']}\n")
    out.append(f"`{line}`\n")
    out.append(
        f"- Machine: {m['nproc']} CPUs ({m['model']}), {m['mem_gib']} GiB RAM, Linux "
        f"{m['kernel']}; load average at start {' '.join(m['loadavg_start'])} "
        f"(the machine is shared: Cassandra, the service, the load generator and "
        f"other work all run on these {m['nproc']} cores)."
    )
    out.append(f"- Commit: {info['commit']}. Run: {'quick' if info['quick'] else 'full'}, "
               f"{info['rounds']} rounds of {info['seconds']} s per case and side, "
               f"interleaved (the side that goes first alternates); {info['keys']} "
               f"pre-populated keys of 1 KiB.")
    out.append("- Service: kask over HTTP/1.1 on loopback, loaded by wrk (threads = "
               "min(concurrency, 2), one request in flight per connection). Ceilings: "
               "GET/POST/mix by the same cdrs-tokio 9.0.2 session and statements "
               "straight to Cassandra (protocol v5, LOCAL_QUORUM, its own tasks as "
               "load); /healthz by a bare hyper server under the same wrk.")
    out.append(f"- Both sides talk directly to one node of Apache Cassandra "
               f"{info.get('cassandra', '4.1')} (tests/cassandra/ctl.sh), password "
               "authentication on.")
    out.append("- Reproduce: `make bench` (full) or `BENCH_QUICK=1 make bench`; "
               "needs `make deps` (wrk, python3-matplotlib) once.\n")
    out.append("Each cell is service / ceiling. req/s and latencies: median over the "
               "rounds; errors: sum (non-2xx and socket errors; for the driver, failed "
               "statements); CPU: user+system time of the serving process per 1000 "
               "requests over all rounds (for the driver ceiling that process is also "
               "its own load generator); peak RSS: VmHWM of the serving process, reset "
               "before each run. Ratio: service req/s / ceiling req/s. The service "
               "side's latencies are wrk's: on a loaded machine its p99 is mostly wrk "
               "waiting for a CPU (bench/PROFILE.md, \"POST tail on 4.1\", and "
               "`make bench-tail`).\n")
    out.append("| workload | c | req/s | ratio | p50 ms | p99 ms | p99.9 ms | errors "
               "| CPU ms / 1000 req | peak RSS MiB |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in cases:
        ratio = f"**{row['ratio']:.2f}**" if "ratio" in row else "-"
        out.append(
            f"| {TITLES[row['workload']]} (vs {CEILING[row['workload']]}) "
            f"| {row['concurrency']} "
            f"| {pair(row, 'rps', lambda v: f'{v:.0f}')} "
            f"| {ratio} "
            f"| {pair(row, 'p50_us', ms)} "
            f"| {pair(row, 'p99_us', ms)} "
            f"| {pair(row, 'p999_us', ms)} "
            f"| {pair(row, 'errors', str)} "
            f"| {pair(row, 'cpu_ms_per_1000', lambda v: f'{v:.0f}')} "
            f"| {pair(row, 'hwm_mib', lambda v: f'{v:.1f}')} |"
        )
    out.append("\nWhere the machine's CPU went, in ms per 1000 requests (service / "
               "ceiling): the serving process, the load generator (wrk; the driver "
               "ceiling generates its own load, counted as serving), and Cassandra. With 2 cores, req/s follows the sum. The Cassandra column "
               "also holds the node's background work (and whatever else uses the "
               "shared node meanwhile), a roughly constant CPU per second spread over "
               "the requests: it weighs most at low req/s.\n")
    out.append("| workload | c | serving | load generator | Cassandra | sum |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for row in cases:
        def total(side):
            d = row.get(side, {})
            parts = [d.get(k) for k in ("cpu_ms_per_1000", "loadgen_cpu_ms_per_1000",
                                        "backend_cpu_ms_per_1000")]
            return None if any(p is None for p in parts) else sum(parts)
        row_total = {"service": total("service"), "ceiling": total("ceiling")}
        f0 = lambda v: f"{v:.0f}"
        out.append(
            f"| {row['workload']} | {row['concurrency']} "
            f"| {pair(row, 'cpu_ms_per_1000', f0)} "
            f"| {pair(row, 'loadgen_cpu_ms_per_1000', f0)} "
            f"| {pair(row, 'backend_cpu_ms_per_1000', f0)} "
            f"| {f0(row_total['service']) if row_total['service'] is not None else '-'} / "
            f"{f0(row_total['ceiling']) if row_total['ceiling'] is not None else '-'} |")
    disturbed = sum(row.get(s, {}).get("disturbed", 0) for row in cases
                    for s in ("service", "ceiling"))
    if disturbed:
        out.append(f"\n{disturbed} run(s) saw the shared Cassandra restarted by other "
                   f"work even after retries; their numbers are in the medians above.")
    out.append("\nPer-round req/s (service | ceiling), to judge the spread:\n")
    for row in cases:
        s = row.get("service", {}).get("rps_all", [])
        c = row.get("ceiling", {}).get("rps_all", [])
        out.append(f"- {row['workload']} c={row['concurrency']}: {s} | {c}")
    out.append(
        f"\nService peak RSS over the run (VmHWM, including start-up): "
        f"{info['kask_peak_rss_mib']:.1f} MiB.\n"
        "\nTargets (measured, not asserted): GET and POST >= 0.90 of the driver "
        "ceiling, /healthz >= 0.80 of the hyper ceiling, peak RSS <= 32 MiB, zero "
        "errors.\n"
    )
    return "\n".join(out)


def plot(path, info, cases):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = [w for w in TITLES if any(r["workload"] == w for r in cases)]
    fig, axes = plt.subplots(2, len(workloads), figsize=(4.2 * len(workloads), 7.5),
                             squeeze=False)
    colours = {"service": "#1f77b4", "ceiling": "#999999"}
    for i, w in enumerate(workloads):
        rows = [r for r in cases if r["workload"] == w]
        xs = list(range(len(rows)))
        width = 0.38
        top, bottom = axes[0][i], axes[1][i]
        highest = 0
        for j, side in enumerate(("service", "ceiling")):
            label = "kask" if side == "service" else f"{CEILING[w]} ceiling"
            rps = [r.get(side, {}).get("rps", 0) for r in rows]
            highest = max([highest] + rps)
            top.bar([x + (j - 0.5) * width for x in xs], rps, width,
                    color=colours[side], label=label)
            for key, style, marker, name in (("p50_us", "--", "o", "p50"),
                                              ("p99_us", "-", "^", "p99")):
                bottom.plot([x + (j - 0.5) * 0.2 for x in xs],
                            [r.get(side, {}).get(key, float("nan")) / 1000 for r in rows],
                            style, marker=marker, markersize=7, color=colours[side],
                            label=f"{label} {name}")
        for x, r in zip(xs, rows):
            if "ratio" in r:
                top.text(x, max(r["service"]["rps"], r["ceiling"]["rps"]) * 1.02,
                         f"{r['ratio']:.2f}", ha="center", va="bottom", fontsize=10,
                         fontweight="bold")
        top.set_ylim(0, highest * 1.35)
        for ax in (top, bottom):
            ax.set_xticks(xs)
            ax.set_xticklabels([f"c={r['concurrency']}" for r in rows])
            ax.set_xlim(-0.6, len(rows) - 0.4)
        top.legend(fontsize=8, loc="upper right")
        top.set_title(f"{TITLES[w]}\n(bold: kask / {CEILING[w]} ceiling req/s)", fontsize=10)
        top.set_ylabel("requests/s")
        bottom.set_ylabel("latency, ms (log scale)")
        bottom.set_yscale("log")
        bottom.grid(True, which="major", alpha=0.3)
        # Room above the lines for the legend.
        low, high = bottom.get_ylim()
        bottom.set_ylim(low, high * 12)
        bottom.legend(fontsize=7, loc="upper left", ncol=2)
    m = info["machine"]
    fig.suptitle(f"kask vs its ceilings, {info['date']}; {m['nproc']} CPUs ({m['model']}), "
                 f"shared by Cassandra, kask and the load generator", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(outdir, info, cases, line):
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(table(info, cases, line))
    plot(os.path.join(outdir, "plot.png"), info, cases)


if __name__ == "__main__":
    d = sys.argv[1]
    with open(os.path.join(d, "results.json")) as f:
        data = json.load(f)
    import run

    write(d, data["info"], data["cases"], run.summary_line(data["cases"], data["info"]))
