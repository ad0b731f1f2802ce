"""3 and 6: the crew flow through the gateway next to its floor of raw operations, and the
peak resident memory of every service while it runs."""

from __future__ import annotations

from typing import Any

from fieldcrew_cli.stack import SERVICES

from bench import floor
from bench.crew import CALLS, Clients, Flow, run_clients
from bench.env import BenchEnv
from bench.memory import RssSampler, high_water_mb
from bench.stats import Results, Row, latency_ms, median

SECTION = "3 crew flow"
MEMORY = "6 memory"


async def run(env: BenchEnv, results: Results, *, crews: int, orders: int, reps: int) -> None:
    """Warm up, then ``reps`` times: the flow with ``crews`` clients, and the floor."""
    clients = Clients(env)
    await run_clients(env, clients, crews, crews)  # warm-up: connections, caches, JIT-less
    flows: list[Flow] = []
    floors: list[dict[str, tuple[float, list[float]]]] = []
    pids = {name: env.pid(name) for name in SERVICES}
    async with RssSampler(pids) as rss:
        for rep in range(reps):
            if rep % 2:
                floors.append(await floor.measure(env, orders, crews))
            flows.append(await run_clients(env, clients, crews, orders))
            if rep % 2 == 0:
                floors.append(await floor.measure(env, orders, crews))
    _report_flow(results, flows, crews)
    _report_floor(results, flows, floors, orders)
    results.record(MEMORY, "peak_rss_mb_during_e2e", rss.peak_mb)
    results.record(MEMORY, "vm_hwm_mb", {n: high_water_mb(p) for n, p in pids.items()})
    for name, mb in rss.peak_mb.items():
        results.add(Row(MEMORY, f"peak RSS {name} (crew flow)", mb, "MB"))


def _rate(flow: Flow) -> float:
    done = len([w for w in flow.last_upload if w in flow.reported])
    return done / (flow.ended - flow.started) if flow.ended > flow.started else 0.0


def _report_flow(results: Results, flows: list[Flow], crews: int) -> None:
    rates = [_rate(f) for f in flows]
    errors = [e for f in flows for e in f.errors]
    ttr = latency_ms([t for f in flows for t in f.times_to_report()])
    calls = {k: latency_ms([x for f in flows for x in f.latencies[k]]) for k in CALLS}
    results.record(SECTION, "flow", {
        "crews": crews, "rates_wo_per_s": rates, "errors": len(errors),
        "first_errors": errors[:10], "time_to_report": ttr, "calls": calls,
        "completed": [len(f.reported.keys() & f.last_upload.keys()) for f in flows],
    })  # fmt: skip
    rate = median(rates)
    results.add(Row(SECTION, f"completed work orders ({crews} clients)", rate, "WO/s",
                    None, "", ">= 100 WO/s", rate >= 100))  # fmt: skip
    results.add(Row(SECTION, "errors", float(len(errors)), "", None, "", "0", not errors))
    results.add(Row(SECTION, "time to report p50", ttr["p50_ms"], "ms"))
    results.add(Row(SECTION, "time to report p99", ttr["p99_ms"], "ms", None, "",
                    "< 250 ms", ttr["p99_ms"] < 250))  # fmt: skip
    for kind, figures in calls.items():
        results.add(Row(SECTION, f"{kind} latency p50 / p99", figures["p50_ms"], "ms",
                        figures["p99_ms"], "p99", compare=False))  # fmt: skip


def _report_floor(
    results: Results,
    flows: list[Flow],
    floors: list[dict[str, tuple[float, list[float]]]],
    orders: int,
) -> None:
    per_order = [sum(seconds for seconds, _ in f.values()) / orders for f in floors]
    floor_rate = median([1 / s for s in per_order])
    kinds: dict[str, Any] = {}
    for kind, count in floor.PER_ORDER.items():
        ops = median([count * orders / f[kind][0] for f in floors])
        kinds[kind] = {"ops_per_s": ops, **latency_ms([x for f in floors for x in f[kind][1]])}
        results.add(Row(SECTION, f"floor: {kind} ({count}/WO)", ops, "ops/s"))
    results.record(SECTION, "floor", {"per_order": floor.PER_ORDER, "kinds": kinds,
                                      "floor_wo_per_s": floor_rate})  # fmt: skip
    rate = median([_rate(f) for f in flows])
    results.add(Row(SECTION, "crew flow vs its floor of raw I/O", rate, "WO/s",
                    floor_rate, "floor"))  # fmt: skip
