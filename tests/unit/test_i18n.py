"""Error messages in Korean and English, and which of the two a request reads."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from api.i18n import MESSAGES, message, request_language

ROOT = Path(__file__).resolve().parents[2]
HANGUL = re.compile(r"[\uac00-\ud7a3]")
DOMAIN_MODULES = ("domain/profiles.py", "domain/identity.py")


def raised_codes(relative_path: str) -> set[str]:
    """The error codes a domain module raises: ``code="..."`` and the ``UNKNOWN_*`` codes it
    hands to its reference-data checks."""
    source = (ROOT / relative_path).read_text(encoding="utf-8")
    explicit = re.findall(r'code="([A-Z0-9_]+)"', source)
    reference = re.findall(r'"(UNKNOWN_[A-Z0-9_]+)"', source)
    return set(explicit) | set(reference)


def fake_request(*, accept_language: str | None = None, **state: Any) -> Any:
    headers = {} if accept_language is None else {"accept-language": accept_language}
    return SimpleNamespace(state=SimpleNamespace(**state), headers=headers)


# -- message ------------------------------------------------------------------------------


def test_a_known_code_reads_in_korean() -> None:
    assert message("ACCOUNT_NOT_FOUND", "ko", "fallback") == "계정을 찾을 수 없습니다."


def test_a_known_code_reads_in_english() -> None:
    assert message("ACCOUNT_NOT_FOUND", "en", "fallback") == "The account was not found."


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_an_unknown_code_reads_as_the_fallback(lang: str) -> None:
    assert message("NO_SUCH_CODE", lang, "the original message") == "the original message"  # type: ignore[arg-type]


# -- catalogue integrity ------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_message_has_korean_and_english_text(code: str) -> None:
    ko, en = MESSAGES[code]

    assert ko.strip() and en.strip()
    assert HANGUL.search(ko), f"{code}: Korean text has no Hangul"
    assert not HANGUL.search(en), f"{code}: English text contains Hangul"


def test_message_codes_are_upper_snake_case() -> None:
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", code) for code in MESSAGES)


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_every_error_code_raised_by_the_domain_has_a_message(module: str) -> None:
    codes = raised_codes(module)

    assert codes, f"no error codes found in {module}"
    assert sorted(codes - set(MESSAGES)) == []


# -- request language ---------------------------------------------------------------------


def test_a_request_without_preferences_reads_korean() -> None:
    assert request_language(fake_request()) == "ko"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("ko-KR,ko;q=0.9,en;q=0.8", "ko"),
        ("ko;q=0.5, en;q=0.8", "en"),
        ("fr-FR,fr;q=0.9", "ko"),
        ("en;q=0", "ko"),
    ],
)
def test_an_anonymous_request_reads_its_accept_language(header: str, expected: str) -> None:
    assert request_language(fake_request(accept_language=header)) == expected


def test_the_chosen_app_language_wins_over_accept_language() -> None:
    request = fake_request(accept_language="ko-KR", language="en-US")

    assert request_language(request) == "en"


def test_an_unsupported_chosen_language_reads_korean() -> None:
    request = fake_request(accept_language="en-US", language="ja")

    assert request_language(request) == "ko"
