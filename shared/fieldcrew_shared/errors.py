"""Exceptions shared by every fieldcrew service.

The tree::

    FieldcrewError
    ├── CommandRejectedError          a command broke a business rule (domain modules raise these)
    │   ├── InvalidCommandError       400/422: the command itself is malformed or inconsistent
    │   ├── ForbiddenError            403: the actor may not do this
    │   ├── NotFoundError             404: no such work order / photo / report
    │   ├── ConflictError             409: the state forbids it (report already submitted, ...)
    │   ├── GoneError                 410: it existed and is no more (a revoked or expired link)
    │   └── UploadRejectedError       413/415/422: an upload was refused
    ├── AuthenticationError           401: no token, or a token that does not verify
    ├── ConcurrencyError              another writer appended to the same aggregate first
    ├── PoisonEventError              an event that cannot be decoded or applied
    ├── BackendUnavailableError       503: NATS, PostgreSQL or S3 did not answer
    │   └── EventLogRefusedError      503: JetStream answered an append or a read with an error
    └── StreamConfigError             the event log's stream could lose history; nothing starts

Adapters translate library exceptions into these with ``raise ... from exc``; one handler per
app (``fieldcrew_shared.web``) maps them to HTTP statuses.
"""

from __future__ import annotations


class FieldcrewError(Exception):
    """Base of every error fieldcrew raises on purpose."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class CommandRejectedError(FieldcrewError):
    """A command was refused by a business rule; nothing was written."""

    code = "rejected"
    status = 422


class InvalidCommandError(CommandRejectedError):
    code = "invalid"
    status = 422


class ForbiddenError(CommandRejectedError):
    code = "forbidden"
    status = 403


class NotFoundError(CommandRejectedError):
    code = "not_found"
    status = 404


class ConflictError(CommandRejectedError):
    code = "conflict"
    status = 409


class GoneError(CommandRejectedError):
    code = "gone"
    status = 410


class UploadRejectedError(CommandRejectedError):
    """An upload was refused (``status``: 413 too large, 415 not an image, 422 corrupt)."""

    code = "upload_rejected"
    status = 415

    def __init__(self, message: str, *, status: int = 415, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status


class AuthenticationError(FieldcrewError):
    code = "unauthenticated"
    status = 401


class ConcurrencyError(FieldcrewError):
    """The aggregate moved on since it was loaded; reload and decide again."""

    code = "concurrent_update"
    status = 409


class PoisonEventError(FieldcrewError):
    """An event that cannot be decoded or applied; it is dead-lettered, not retried."""

    code = "poison_event"
    status = 500


class BackendUnavailableError(FieldcrewError):
    """A backing server (NATS, PostgreSQL, S3) is down; the client may retry."""

    code = "backend_unavailable"
    status = 503


class EventLogRefusedError(BackendUnavailableError):
    """JetStream refused a request with an error other than a concurrency conflict (no such
    stream, storage full, a message over the size limit, ...). The message carries
    JetStream's own error code and description."""

    code = "event_log_refused"


class StreamConfigError(FieldcrewError):
    """The event log's stream is configured so that it could lose history (a limit, too few
    replicas, deletes allowed, ...) and could not be fixed; a service refuses to start."""

    code = "stream_misconfigured"
    status = 503
