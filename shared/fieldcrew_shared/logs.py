"""Structured JSON logs on stderr, one object per line, with secrets redacted.

Every line passes :func:`redact` as a whole (message, extra fields and traceback alike), so a
password in a URL (``nats://user:pass@``, ``postgresql://user:pass@``), a bearer token or any
JWT, a private key, a presigned URL's signature or a ``password=...`` pair never reaches the
log, even when a library puts one into an exception message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from fieldcrew_shared import tracing

_STANDARD = set(vars(logging.makeLogRecord({})))
MASK = "***"

# (pattern, replacement); replacements hold no quote or backslash, so a redacted JSON line
# stays valid JSON
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # a PEM private key, also when its newlines are JSON-escaped
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        f"{MASK}private key{MASK}",
    ),
    # userinfo of any URL (user:password, or a lone token as in nats://TOKEN@host)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s\"']+@"), rf"\1{MASK}@"),
    # Authorization header values
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+"), rf"\1\2{MASK}"),
    # anything shaped like a JWS/JWT: base64url header starting with '{"'
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), f"{MASK}jwt{MASK}"),
    # presigned S3 URLs
    (
        re.compile(r"(?i)\b(x-amz-(?:signature|credential|security-token)=)[^&\s\"']+"),
        rf"\1{MASK}",
    ),
    # password=..., secret_key: ..., "token": "...", authorization=...
    (
        re.compile(
            r"(?i)\b((?:pass(?:word|wd)?|secret(?:[_-]?key)?|access[_-]?token|token|"
            r"authorization|api[_-]?key)\\?[\"']?\s*[:=]\s*\\?[\"']?)[^\s\"'\\&,;}]+"
        ),
        rf"\1{MASK}",
    ),
)


def redact(text: str) -> str:
    """``text`` with credentials, tokens and keys replaced by ``***``."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, service, logger, message, extra fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ids = tracing.ids()
        entry["trace_id"], entry["span_id"] = ids if ids is not None else (None, None)
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return redact(json.dumps(entry, default=str))


def configure(service: str, level: str = "INFO") -> None:
    """Send every log record to stderr as redacted JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
