"""Credentials are cut out of every log line, whatever wrote it."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from infra.logs import REDACTED, JsonFormatter, redact

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXBhcnQ"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f'127.0.0.1:5 - "WebSocket /ws/notifications?token={JWT}" [accepted]', JWT),
        ("GET /login/oauth2/code/google?code=4/0AbCd&state=s3cr3t-state 302", "4/0AbCd"),
        ("GET /login/oauth2/code/google?code=4/0AbCd&state=s3cr3t-state 302", "s3cr3t-state"),
        ("< TEXT 'CONNECT\\nAuthorization:Bearer opaque-token-123\\n'", "opaque-token-123"),
        ("upstream said AUTHORIZATION: BEARER opaque-token-9", "opaque-token-9"),
        (f"refresh failed for {JWT}", JWT),
        ("POST /token grant_type=authorization_code&client_secret=abc123&code=zz", "abc123"),
        ('"WebSocket /api/v1/room/r1/ws?userId=u1&userName=Alice%20Kim" [accepted]', "Alice"),
        ("GET /api/v1/users/check?email=jun@example.com 200", "jun@example.com"),
    ],
)
def test_a_credential_in_a_line_is_replaced(line: str, secret: str) -> None:
    cleaned = redact(line)

    assert secret not in cleaned and REDACTED in cleaned


def test_words_that_only_contain_a_secret_name_are_left_alone() -> None:
    line = "postcode=04524 encode=utf-8 unicode=yes page=2 filename=a.wav"

    assert redact(line) == line


def test_the_formatter_redacts_messages_and_tracebacks_of_any_logger() -> None:
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        record = logging.getLogger("some.library").makeRecord(
            "some.library", logging.DEBUG, __file__, 1, "GET /x?token=%s", (JWT,), None
        )
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))

    assert JWT not in json.dumps(entry)
    assert entry["message"] == f"GET /x?token={REDACTED}"
