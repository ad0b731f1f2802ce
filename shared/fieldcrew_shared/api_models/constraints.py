"""What every request body is made of: texts with limits and no control characters, phone
numbers and email addresses checked with a message a person understands, the strict base
model, and the largest number a query may ask for."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

ONE_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
"""No control characters at all: names, ids, titles."""

MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""No control characters but tab and line breaks: free text."""

UserId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE)
]

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=ONE_LINE)
]

ShortText = Annotated[str, StringConstraints(max_length=200, pattern=ONE_LINE)]

LongText = Annotated[str, StringConstraints(max_length=10_000, pattern=MULTI_LINE)]

RequiredText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000, pattern=MULTI_LINE),
]

PartNo = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=ONE_LINE)
]

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=ONE_LINE)
]

Unit = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32, pattern=ONE_LINE)]

PHONE = r"^(\+?[0-9][0-9 ()./-]{2,31})?$"

EMAIL = r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$"


def _matching(pattern: str, message: str) -> AfterValidator:
    """Checks ``pattern`` with a message a person understands (pydantic's names the regex);
    the schema still carries the pattern for clients."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise PydanticCustomError("string_pattern_mismatch", message)
        return value

    return AfterValidator(check)


Phone = Annotated[
    str,
    StringConstraints(max_length=32),
    _matching(PHONE, "Not a phone number: digits, spaces and + ( ) . / - (3 to 32)"),
    WithJsonSchema({"type": "string", "maxLength": 32, "pattern": PHONE}),
]

Email = Annotated[
    str,
    StringConstraints(max_length=254),
    _matching(EMAIL, "Not an email address (name@example.com)"),
    WithJsonSchema({"type": "string", "maxLength": 254, "pattern": EMAIL}),
]


class Strict(BaseModel):
    """Base of every request body: unknown fields are refused, and it cannot change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


MAX_QUERY_INT = 2**31 - 1
"""Largest revision or offset a query may ask for (a PostgreSQL ``int``; larger is a 422)."""
