"""Plots for docs/benchmarks.md from the JSON the bench scripts write (matplotlib, PNG).

    .venv/bin/python bench/plot.py fanout bench-fanout.json docs/benchmarks/fanout.png
    .venv/bin/python bench/plot.py capacity bench-capacity.json docs/benchmarks/capacity.png
    .venv/bin/python bench/plot.py relay bench-relay.json docs/benchmarks/relay.png
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


def fanout(figures: dict, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for kind, rows in figures["steps"].items():
        xs = [r["listeners"] for r in rows]
        ys = [min(r["p95_ms"], 5000) if r["p95_ms"] is not None else 5000 for r in rows]
        ax.plot(xs, ys, marker="o", label="product (daphne, full path)" if kind == "full" else "bare websockets")
    ax.axhline(500, color="grey", linestyle="--", linewidth=1, label="bound: p95 500 ms")
    ax.set_xlabel("listeners (operator sockets of one inbox)")
    ax.set_ylabel("p95 until the last listener has it (ms)")
    ax.set_yscale("log")
    ax.set_title("Broadcast, 4 in flight (websocket-shootout method)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def relay(figures: dict, out: Path) -> None:
    """p99 against offered load, full path and bare relay, one line each per server."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for server, figs in figures["servers"].items():
        for app, rows in figs["relay_rows"].items():
            xs = [r["load"] for r in rows]
            ys = [min(r["p99"], 10_000) for r in rows]
            name = "product, full path" if app == "full" else "bare Channels relay"
            ax.plot(xs, ys, marker="o", linestyle="-" if app == "full" else "--", label=f"{name} ({server})")
    ax.axhline(100, color="grey", linestyle=":", linewidth=1, label="knee bound: p99 100 ms")
    ax.set_xlabel("offered load (messages/s, 250 visitor/operator pairs)")
    ax.set_ylabel("p99 visitor → operator (ms)")
    ax.set_yscale("log")
    ax.set_title("Relay: latency against load, one server process")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def capacity(figures: dict, out: Path) -> None:
    idle = figures["idle"]
    labels = [f"process {r['process']}\n{r['sockets']:,} sockets" for r in idle["per_process"]]
    values = [r["kib_per_socket"] for r in idle["per_process"]]
    labels.append(f"bare consumer\n{idle['bare']['sockets']:,} sockets")
    values.append(idle["bare"]["kib_per_socket"])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(labels, values, color=["tab:blue"] * (len(values) - 1) + ["tab:grey"])
    ax.axhline(idle["bare"]["kib_per_socket"] * 1.2, color="tab:red", linestyle="--", linewidth=1,
               label="1.2 × bare")
    ax.set_ylabel("KiB of RSS per idle widget socket")
    ax.set_title(f"{idle['sockets']:,} idle authenticated widget sockets")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    kind, source, target = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    target.parent.mkdir(parents=True, exist_ok=True)
    {"fanout": fanout, "capacity": capacity, "relay": relay}[kind](json.loads(source.read_text()), target)
    print(target)
