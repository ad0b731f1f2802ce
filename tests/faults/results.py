"""The fault suite's results: one row per scenario, printed as a table and written as JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from tests.faults.catalogue import SCENARIOS
from tests.faults.scenarios import Outcome

RESULTS = Path(__file__).parent / "results"
COLUMNS = ("scenario", "work orders", "acked commands checked", "faults", "lost", "duplicated",
           "rebuild equal", "longest write stall", "result")  # fmt: skip


def faults_text(outcome: Outcome) -> str:
    """Kills, node losses, pauses, outage seconds, poison: what the scenario did."""
    f = outcome.faults
    parts = []
    if "kills" in f:
        victims = ", ".join(f"{name} {n}" for name, n in sorted(f["victims"].items()))
        parts.append(f"{f['kills']} kills ({victims})")
    if "node_losses" in f:
        hows = ", ".join(f"{how} {n}" for how, n in f["hows"].items())
        parts.append(f"{f['node_losses']} leader losses ({hows})")
    if "outage_s" in f:
        parts.append(f"{f['server']} {f['how']} {f['outage_s']:.0f} s")
    if "poison" in f:
        parts.append(f"{f['poison']} poison")
    if "pauses" in f:
        parts.append(f"{f['pauses']} pauses, {f['redelivered']} redelivered")
    return "; ".join(parts)


def row(outcome: Outcome) -> dict[str, Any]:
    """The scenario's figures, as the table and the JSON show them."""
    v = outcome.verdict
    return {
        "scenario": f"{outcome.scenario}. {SCENARIOS[outcome.scenario][0]}",
        "size": outcome.size,
        "seed": outcome.seed,
        "work_orders": v.orders,
        "work_orders_complete": v.complete,
        "acked_commands_checked": v.acked,
        "faults": outcome.faults,
        "faults_text": faults_text(outcome),
        "lost": v.lost,
        "duplicated": v.duplicated,
        "rebuild_equal": v.rebuild_equal,
        "reports_right": v.reports_right,
        "longest_write_stall_s": round(outcome.stall, 2),
        "slowest_command_s": round(outcome.ledger.slowest_command(), 2),
        "settled_after_s": None if v.settled_seconds is None else round(v.settled_seconds, 2),
        "log_events": v.log_events,
        "dead_letters": len(v.dead_letters),
        "answers": outcome.ledger.statuses(),
        "tables": v.tables,
        "extra": outcome.extra,
        "seconds": round(outcome.seconds, 1),
        "passed": v.ok,
        "problems": v.problems,
    }


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the rows (it goes into README.md and the ADR as it is)."""
    cells = [
        [
            r["scenario"], f"{r['work_orders']:,}", f"{r['acked_commands_checked']:,}",
            r["faults_text"], str(r["lost"]), str(r["duplicated"]),
            "yes" if r["rebuild_equal"] else "NO", f"{r['longest_write_stall_s']:.1f} s",
            "pass" if r["passed"] else "FAIL",
        ]
        for r in rows
    ]  # fmt: skip
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(COLUMNS)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
              for line in cells]  # fmt: skip
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the run was measured on."""
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory, 1),
        "load_average_at_start": os.getloadavg(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


def write(rows: list[dict[str, Any]], size: str, command: str, host: dict[str, Any]) -> Path:
    """``results/<time>-<size>.json`` and ``results/latest-<size>.json``; returns the first."""
    RESULTS.mkdir(exist_ok=True)
    doc = {"command": command, "size": size, "machine": host,
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "scenarios": rows}  # fmt: skip
    text = json.dumps(doc, indent=2, default=str) + "\n"
    path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{size}.json"
    path.write_text(text)
    (RESULTS / f"latest-{size}.json").write_text(text)
    return path
