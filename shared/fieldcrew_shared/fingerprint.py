"""The fingerprint of a server report: what ties a printed report to the record.

``sha256`` of the report's JSON as ``GET /api/v1/work-orders/{id}/server-report?revision=N``
answers it (its ``revision`` included), written canonically: keys sorted, no whitespace
(``,`` and ``:``), text as UTF-8 rather than ``\\u`` escapes. Anyone holding the JSON can check
a PDF with ``json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
The aggregator lists it with each revision and the PDF prints it (docs/adr/0048).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_json(report: Mapping[str, Any]) -> bytes:
    """``report`` as canonical JSON bytes."""
    return json.dumps(report, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def fingerprint(report: Mapping[str, Any]) -> str:
    """The hex sha256 of :func:`canonical_json` of ``report``."""
    return hashlib.sha256(canonical_json(report)).hexdigest()
