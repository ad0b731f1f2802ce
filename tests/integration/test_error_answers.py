"""Every answer a service gives is fieldcrew's JSON error shape, a bug's included, and a
backend that is down is a 503 the client may retry (``Retry-After``)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fieldcrew_shared.errors import BackendUnavailableError, EventLogRefusedError
from fieldcrew_shared.web import install_error_handlers


def app_raising(exc: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/")
    async def fail() -> None:
        raise exc

    return app


async def answer_of(app: FastAPI) -> httpx.Response:
    # the app's own answer, not the exception Starlette raises again after sending it
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/")


async def test_a_backend_that_is_down_is_503_with_retry_after() -> None:
    for exc, code in [
        (BackendUnavailableError("PostgreSQL did not answer in 2 s"), "backend_unavailable"),
        (EventLogRefusedError("JetStream refused ... (error 10077)"), "event_log_refused"),
    ]:
        answer = await answer_of(app_raising(exc))
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.json()["error"] == {"code": code, "message": exc.args[0]}


async def test_a_bug_is_a_json_500_that_tells_nothing_inside() -> None:
    answer = await answer_of(app_raising(KeyError("secret detail")))
    assert answer.status_code == 500
    assert answer.json() == {
        "error": {"code": "internal_error", "message": "an unexpected error occurred"}
    }
