"""``make chaos``: every scenario in its full size (or ``--ci``: the sizes ``make test`` runs),
one after the other, each over its own fresh system; a table on stdout and JSON in
``tests/faults/results/``. Exit status 1 when any scenario failed a check.

    .venv/bin/python -m tests.faults                 # all scenarios, full size
    .venv/bin/python -m tests.faults --ci a e        # some scenarios, CI size
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import sys

from tests.faults.catalogue import SCENARIOS, scenario
from tests.faults.results import machine, row, table, write
from tests.faults.scenarios import SEED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scenarios", nargs="*", help=f"of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--ci", action="store_true", help="the CI sizes, not the full ones")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"no such scenario: {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("tests.faults").setLevel(logging.INFO)
    host = machine()
    rows = []
    for key in args.scenarios or list(SCENARIOS):
        print(f"scenario {key}: {SCENARIOS[key][0]} ...", flush=True)
        outcome = asyncio.run(scenario(key, full=not args.ci, seed=args.seed))
        rows.append(row(outcome))
        for problem in outcome.verdict.problems:
            print(f"  problem: {problem}", flush=True)
        print(table(rows[-1:]), flush=True)
    command = shlex.join(["python", "-m", "tests.faults", *(argv or sys.argv[1:])])
    path = write(rows, "ci" if args.ci else "full", command, host)
    print(f"\n{command}\nmachine: {host['cpu_count']} cores, {host['cpu_model']}\n")
    print(table(rows))
    print(f"\nresults: {path}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
