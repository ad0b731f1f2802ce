"""Liveness and readiness, the same way in every service (docs/adr/0025).

``GET /healthz`` answers 200 while the process serves HTTP: a supervisor restarts a process
that stops answering it. ``GET /readyz`` answers whether the process can do its job *now*: it
runs the service's checks (NATS and the stream, PostgreSQL, S3, background tasks, the
upstreams) concurrently, each bounded by ``timeout``, and answers 200 when all pass, else 503
with ``Retry-After`` and the list of what failed::

    {"status": "unready",
     "problems": [{"check": "postgres", "error": "TimeoutError: no answer within 2.0 s"}],
     "checks": {"nats": {"ok": true, "last_seq": 812}, "postgres": {"ok": false, ...}}}

A check is an async function that returns details to show (or None) and raises when the thing
it checks cannot work; a check that hangs counts as failed once its time is up, so a hung
backend makes ``/readyz`` answer 503 quickly instead of hanging with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fieldcrew_shared.web import RETRY_AFTER_SECONDS

Details = Mapping[str, Any]
Check = Callable[[], Awaitable[Details | None]]


class NotReadyError(Exception):
    """What a check raises to say, in its message, why the service cannot work now."""


@dataclass(frozen=True)
class Outcome:
    """One check's result: passed or not, what it found, and why it failed."""

    ok: bool
    details: Details
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, **self.details}
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass
class Readiness:
    """The checks ``/readyz`` runs; services add theirs as their lifespan opens resources."""

    timeout: float = 2.0
    checks: dict[str, Check] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def probe(self) -> dict[str, Outcome]:
        """Run every check at once, each within ``timeout`` seconds."""
        names = list(self.checks)
        outcomes = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        return dict(zip(names, outcomes, strict=True))

    async def _run(self, check: Check) -> Outcome:
        try:
            async with asyncio.timeout(self.timeout):
                details = await check()
        except TimeoutError:
            return Outcome(False, {}, f"no answer within {self.timeout:g} s")
        except NotReadyError as exc:
            return Outcome(False, {}, str(exc))
        except Exception as exc:  # reported in the answer: the check's job is to say why
            return Outcome(False, {}, f"{type(exc).__name__}: {exc}")
        return Outcome(True, details or {})


def readiness_of(app: FastAPI) -> Readiness:
    readiness: Readiness = app.state.readiness
    return readiness


def add_health(app: FastAPI, timeout: float) -> None:
    """``/healthz`` and ``/readyz`` on ``app``; checks go to ``app.state.readiness``."""
    app.state.readiness = Readiness(timeout=timeout)

    @app.get("/healthz", tags=["health"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        outcomes = await readiness_of(request.app).probe()
        problems = [{"check": name, "error": o.error} for name, o in outcomes.items() if not o.ok]
        body = {
            "status": "unready" if problems else "ready",
            "problems": problems,
            "checks": {name: o.as_json() for name, o in outcomes.items()},
        }
        if problems:
            return JSONResponse(body, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return JSONResponse(body)
