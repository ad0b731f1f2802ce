"""``fieldcrew run``: the real servers and the six services, supervised, until Ctrl-C.

A process that dies is restarted with backoff (:mod:`fieldcrew_cli.supervisor`); a crash
loop stops everything with a message saying who and why. ``<data>/status.json`` shows every
process (``fieldcrew status``); ``<data>/logs/supervisor.log`` keeps who died and when.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from fieldcrew_cli import local, status
from fieldcrew_cli.servers import EmbeddedServers, Ports, ServerStartError
from fieldcrew_cli.servers.ports import ensure_free
from fieldcrew_cli.stack import Stack, create_stream, service_env, service_ports
from fieldcrew_cli.supervisor import CrashLoopError, Supervisor

BANNER = """
fieldcrew is running ({seconds:.1f} s to start).

  gateway   {gateway}/api/v1      (OpenAPI: {gateway}/docs)
  console   {gateway}/console/    (sign in with a token, below)
  data      {data}
  logs      {data}/logs/
  NATS      {nats}

  get a token:   .venv/bin/fieldcrew token --sub dora --role dispatcher
  play a crew:   make demo
  see status:    .venv/bin/fieldcrew status

A process that dies is restarted. Ctrl-C stops everything (the data stays for the next run).
"""


def run(data: Path, *, port_base: int | None = None, nats_nodes: int = 1) -> int:
    """Start everything under a supervisor, print where it is, wait for Ctrl-C or a crash
    loop, stop. 0 after Ctrl-C, 1 when it could not start or gave up. ``nats_nodes`` 3: a
    NATS cluster of three nodes and the stream with three replicas."""
    started = time.perf_counter()
    data.mkdir(parents=True, exist_ok=True)
    _, public_key = local.keypair(data)
    _log_to(data / "logs")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    ports = Ports.from_base(port_base) if port_base is not None else Ports()
    stack = Stack(logs=data / "logs", env={}, ports=service_ports(port_base))
    supervisor = Supervisor(status_file=data / status.STATUS_FILE)
    try:
        ensure_free(list(stack.ports.values()))
        plan = EmbeddedServers(data, ports=ports, nats_nodes=nats_nodes).plan()
        replicas = min(nats_nodes, 3)
        stack.env = service_env(plan.infra, public_key, stack.ports, replicas)
        local.write_env(data, stack.env)
        supervisor.start(plan.children)
        # as the NATS admin: the services' users may not
        create_stream(plan.infra.nats_url, replicas)
        supervisor.start(stack.children(plan.kinds))
        gateway = stack.env["FIELDCREW_GATEWAY_URL"]
        seconds = time.perf_counter() - started
        nats = f"{nats_nodes} node(s), stream with {replicas} replica(s)"
        print(BANNER.format(seconds=seconds, gateway=gateway, data=data, nats=nats), flush=True)
        while not stop.is_set():
            if supervisor.wait(0.5) is not None:  # the supervisor logged why
                print("\nfieldcrew stopped: a process kept dying (see above)", file=sys.stderr)
                return 1
    except (CrashLoopError, ServerStartError, TimeoutError, OSError) as exc:
        print(f"\nfieldcrew could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("stopping fieldcrew ...", flush=True)
        supervisor.stop()
    return 0


def _log_to(logs: Path) -> None:
    """The supervisor's lines (who died, how, when it restarts) and the stream check's on
    stdout and in a file."""
    logs.mkdir(parents=True, exist_ok=True)
    form = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [
        logging.StreamHandler(sys.stdout),
        logging.FileHandler(logs / "supervisor.log"),
    ]
    for handler in handlers:
        handler.setFormatter(form)
    quiet = logging.getLogger("fieldcrew_shared.natsclient")  # the admin connection's drain
    quiet.propagate = False
    quiet.addHandler(handlers[1])
    for name in ("fieldcrew.supervisor", "fieldcrew_shared.stream"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        for handler in handlers:
            logger.addHandler(handler)
