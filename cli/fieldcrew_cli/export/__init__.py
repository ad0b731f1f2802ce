"""``fieldcrew events export``: the event log as a dataset (Parquet, JSON lines or CSV), one
table per event type, incremental (docs/analytics.md)."""

from __future__ import annotations

from fieldcrew_cli.export.files import FORMATS, ExportError
from fieldcrew_cli.export.run import ExportRequest, ExportResult, export

__all__ = ["FORMATS", "ExportError", "ExportRequest", "ExportResult", "export"]
