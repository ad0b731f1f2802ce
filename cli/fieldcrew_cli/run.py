"""``fieldcrew run``: the real servers and the five services, until Ctrl-C."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

from fieldcrew_cli import local
from fieldcrew_cli.servers import EmbeddedServers
from fieldcrew_cli.stack import Stack, create_stream, service_env

BANNER = """
fieldcrew is running ({seconds:.1f} s to start).

  gateway   {gateway}/api/v1      (OpenAPI: {gateway}/docs)
  data      {data}
  logs      {data}/logs/

  get a token:   .venv/bin/fieldcrew token --sub dora --role dispatcher
  play a crew:   make demo

Ctrl-C stops everything (the data stays for the next run).
"""


def run(data: Path) -> int:
    """Start everything, print where it is, wait for Ctrl-C or a crashed service, stop."""
    started = time.perf_counter()
    data.mkdir(parents=True, exist_ok=True)
    _, public_key = local.keypair(data)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with EmbeddedServers(data) as infra:
        create_stream(infra.nats_url)  # as the NATS admin: the services' users may not
        stack = Stack(logs=data / "logs", env={})
        stack.env = service_env(infra, public_key, stack.ports)
        local.write_env(data, stack.env)
        try:
            stack.start()
            gateway = stack.env["FIELDCREW_GATEWAY_URL"]
            seconds = time.perf_counter() - started
            print(BANNER.format(seconds=seconds, gateway=gateway, data=data), flush=True)
            while not stop.wait(0.5):
                if dead := stack.dead():
                    print(f"service stopped unexpectedly: {', '.join(dead)}; see {data}/logs/")
                    return 1
        finally:
            print("stopping fieldcrew ...", flush=True)
            stack.stop()
    return 0
