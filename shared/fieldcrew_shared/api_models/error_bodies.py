"""The body of every error answer (what the services answer; extra fields may appear)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable, e.g. `not_found`, `rate_limited`")
    message: str
    details: list[ValidationIssue] | None = Field(
        default=None, description="What is wrong with the input (422 only)"
    )


class ErrorOut(BaseModel):
    """Every error: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail
