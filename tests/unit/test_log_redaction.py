"""Access-log arguments lose the values of secret-looking query parameters, and only those."""

from __future__ import annotations

import logging

import pytest

from app.logs import RedactQuerySecrets, redact


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("/api/lock?token=abc123", "/api/lock?token=***"),
        ("/v1/models?x=1&API_KEY=sk-1&y=2", "/v1/models?x=1&API_KEY=***&y=2"),
        ("/api/lock?secret=a%20b&key=k", "/api/lock?secret=***&key=***"),
        ("/api/logs?tail=200", "/api/logs?tail=200"),
        ("/v1/completions", "/v1/completions"),
        ("127.0.0.1:50000", "127.0.0.1:50000"),
        ("monkey=1", "monkey=1"),  # a name that merely ends in "key"
    ],
)
def test_redact(text: str, redacted: str) -> None:
    assert redact(text) == redacted


def test_the_filter_scrubs_string_arguments_and_leaves_the_rest() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s" %d',
        ("127.0.0.1:1", "GET", "/api/lock?token=t0k", 200), None,
    )  # fmt: skip
    assert RedactQuerySecrets().filter(record)
    assert record.getMessage() == '127.0.0.1:1 - "GET /api/lock?token=***" 200'
