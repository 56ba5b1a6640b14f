#!/usr/bin/env python3
"""Medians, ratios and the Markdown table for scripts/bench/run.sh.

  report.py RESULTS.tsv MACHINE.txt

RESULTS.tsv has one record per run: kind (wrk|loadgen|idle), row, layout, target, round, CPU ticks of the
target's processes during the run, and the file holding the tool's raw output.
"""
import json
import re
import statistics
import sys
from collections import defaultdict

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(text):
    """rps, requests, p99 (ms) and error count from wrk --latency output."""
    requests = int(re.search(r"^\s*(\d+) requests in", text, re.M).group(1))
    rps = float(re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M).group(1))
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    p99 = float(m.group(1)) * UNIT_MS[m.group(2)] if m else float("nan")
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
    return {"requests": requests, "rps": rps, "p99_ms": p99, "errors": errors}


def parse_loadgen(text):
    j = json.loads(text.strip().splitlines()[-1])
    return {"requests": j["requests"], "rps": float(j["rps"]), "p99_ms": j["p99_us"] / 1000, "errors": j["non_ok"],
            "seconds": float(j["seconds"])}


def median(xs):
    xs = [x for x in xs if x == x]  # drop NaN
    return statistics.median(xs) if xs else float("nan")


def fmt_rps(x):
    if x != x:
        return "n/a"
    return f"{x / 1000:.1f}k" if x >= 10000 else f"{x:.0f}"


def fmt(x, digits=1, unit=""):
    return "n/a" if x is None or x != x else f"{x:.{digits}f}{unit}"


def ratio(a, b):
    if a is None or b is None or a != a or b != b or b == 0:
        return ""
    return f"{a / b:.2f}"


def main():
    results_path, machine_path = sys.argv[1], sys.argv[2]
    machine = dict(line.rstrip("\n").split("=", 1) for line in open(machine_path) if "=" in line)
    hz = int(machine["clk_tck"])

    runs = defaultdict(list)  # (row, layout, target) -> [measurement]
    idle = {}
    problems = []
    for line in open(results_path):
        kind, row, layout, target, rnd, ticks, path = line.rstrip("\n").split("\t")
        try:
            text = open(path).read()
            if kind == "idle":
                idle[target] = json.loads(text)
                continue
            m = parse_wrk(text) if kind == "wrk" else parse_loadgen(text)
        except (OSError, ValueError, AttributeError, KeyError, IndexError) as e:
            problems.append(f"{row}/{layout}/{target} round {rnd}: no result ({type(e).__name__}; raw output {path})")
            continue
        m["cpu_us"] = int(ticks) / hz * 1e6 / m["requests"] if m["requests"] else float("nan")
        if kind == "loadgen" and m.get("seconds", 0) < float(machine["duration"]) - 0.5:
            problems.append(f"{row}/{target} round {rnd}: loadgen ran out of pre-signed requests after {m['seconds']:.1f} s "
                            "(raise LOADGEN_RATE)")
        if m["errors"]:
            problems.append(f"{row}/{layout}/{target} round {rnd}: {m['errors']} errors or non-2xx of {m['requests']}")
        runs[(row, layout, target.replace("gateway-sign", "gateway"))].append(m)  # gateway-sign-base too

    def med(row, layout, target, key):
        ms = runs.get((row, layout, target))
        return median([m[key] for m in ms]) if ms else None

    w = machine["unpinned_workers"]
    rows = [  # row, layout, label of its first line, label of the next lines
        ("get", "pinned", "pinned (load + upstream on CPU 0, proxy on CPU 1, 1 worker)", "pinned"),
        ("get", "unpinned", f"unpinned, {w} workers", "unpinned"),
        ("post", "pinned", "1 MiB POST, digest verified, pinned", "1 MiB POST"),
        ("sign", "pinned", "sign route, pinned (app → gateway → upstream)", "sign route, pinned"),
        ("sign", "unpinned", f"sign route, unpinned, {w} workers", "sign route, unpinned"),
    ]
    metrics = [("rps", "rps", fmt_rps), ("cpu_us", "CPU µs per request", fmt), ("p99_ms", "p99 latency", lambda x: fmt(x, 1, " ms"))]

    out = []
    out.append("| layout | metric | nginx | haproxy | gateway | gateway / nginx | haproxy / nginx |")
    out.append("|---|---|---|---|---|---|---|")
    for row, layout, label, short in rows:
        if not any((row, layout, t) in runs for t in ("nginx", "haproxy", "gateway")):
            continue
        for i, (key, name, f) in enumerate(metrics):
            n, h, g = (med(row, layout, t, key) for t in ("nginx", "haproxy", "gateway"))
            cells = [f(x) if x is not None else "" for x in (n, h, g)]
            gr, hr = ratio(g, n), ratio(h, n)
            if key == "rps" and gr:
                gr = f"**{gr}**"
            out.append(f"| {label if i == 0 else short} | {name} | {' | '.join(cells)} | {gr} | {hr} |")
    if idle:
        n_conns = machine["idle_conns"]
        per = {t: idle[t]["kb_per_conn"] for t in idle}
        # Before the connections opened → after they all closed: memory that does not come back.
        kept = {t: (idle[t]["rss_before_kb"] / 1024, idle[t]["rss_after_close_kb"] / 1024) for t in idle}
        cell = lambda d, t, f: f(d[t]) if t in d else ""
        kb = lambda x: f"{x:.1f} KB"
        mb = lambda x: f"{x[0]:.1f} → {x[1]:.1f} MB"
        out.append(
            f"| {n_conns} idle keep-alive connections | RSS per connection | {cell(per, 'nginx', kb)} | {cell(per, 'haproxy', kb)} "
            f"| {cell(per, 'gateway', kb)} | **{ratio(per.get('gateway'), per.get('nginx'))}** | {ratio(per.get('haproxy'), per.get('nginx'))} |"
        )
        out.append(
            f"| after they close | RSS before they opened → after they closed "
            f"| {cell(kept, 'nginx', mb)} | {cell(kept, 'haproxy', mb)} | {cell(kept, 'gateway', mb)} "
            f"| | |"
        )
        fds = ", ".join(f"{t} {'/'.join(map(str, j['fds']))}" for t, j in idle.items() if "fds" in j)
        idle_note = f"Idle row, open fds before / held / after close: {fds}."
        for t, j in idle.items():
            if j["ok"] != j["conns"] or j["alive"] != j["ok"]:
                problems.append(f"idle/{t}: {j['ok']} of {j['conns']} answered 200, {j['alive']} still open when measured"
                                + (f" (first error: {j['first_error']})" if j.get("first_error") else ""))

    mem = runs.get(("replay", "pinned", "gw-memory"))
    red = runs.get(("replay", "pinned", "gw-redis"))
    if mem or red:
        out.append("")
        out.append(f"Replay on (examples/loadgen, a unique nonce per request, {machine['conns']} connections, pinned, 1 worker):")
        out.append("")
        out.append("| metric | memory store | redis store | redis / memory |")
        out.append("|---|---|---|---|")
        for key, name, f in metrics:
            m_ = med("replay", "pinned", "gw-memory", key)
            r_ = med("replay", "pinned", "gw-redis", key)
            rr = ratio(r_, m_)
            out.append(f"| {name} | {f(m_) if m_ is not None else ''} | {f(r_) if r_ is not None else ''} | {'**' + rr + '**' if key == 'rps' and rr else rr} |")

    if any(t == "gateway-base" for (_, _, t) in runs):
        out.append("")
        out.append(f"Before and after, same rounds (baseline: {machine.get('baseline', '?')}):")
        out.append("")
        out.append("| layout | metric | baseline | gateway | gateway / baseline |")
        out.append("|---|---|---|---|---|")
        for row, layout, label, short in rows:
            if (row, layout, "gateway-base") not in runs:
                continue
            for i, (key, name, f) in enumerate(metrics):
                b, g = med(row, layout, "gateway-base", key), med(row, layout, "gateway", key)
                out.append(f"| {label if i == 0 else short} | {name} | {f(b) if b is not None else ''} "
                           f"| {f(g) if g is not None else ''} | {ratio(g, b)} |")
    if idle:
        out.append("")
        out.append(idle_note)
    out.append("")
    out.append(
        f"Machine: {machine['nproc']} CPUs, {machine['cpu']}, {machine['kernel']}; nginx {machine['nginx']}, "
        f"haproxy {machine['haproxy']}, wrk {machine['wrk']}, hmac-gateway {machine['gateway']}. "
        f"wrk -t1 -c{machine['conns']} -d{machine['duration']}s, {machine['rounds']} alternating rounds, medians; "
        f"CPU = utime+stime of the proxy's processes ÷ requests served. "
        f"Load average before / after: {machine.get('loadavg_before', '?')} / {machine.get('loadavg_after', '?')}."
    )
    # A shared machine shows up as rounds that disagree: name the targets whose rps moved most between rounds.
    spread = []
    for (row, layout, target), ms in sorted(runs.items()):
        rps = [m["rps"] for m in ms]
        if len(rps) > 1 and min(rps) > 0 and max(rps) / min(rps) > 1.15:
            spread.append(f"{row} {layout} {target} {max(rps) / min(rps):.2f}")
    if spread:
        out.append("")
        out.append("Round-to-round rps spread (max/min) above 1.15, so a noisy machine (more rounds help): " + ", ".join(spread) + ".")
    out.append("")
    out.append("Errors: none (every request answered 2xx)." if not problems else "Problems:\n" + "\n".join(f"- {p}" for p in problems))
    print("\n".join(out))


if __name__ == "__main__":
    main()
