"""Korean and English for everything a person reads: error messages and reference labels.

The language is the signed-in user's ``appLanguage`` setting when they chose one, otherwise
the request's ``Accept-Language``, and Korean by default (the SPA is Korean). Error codes stay
the same in every language; only ``message`` changes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api.deps import CallerDep
from domain import reference as ref
from domain.reference import Lang, normalize_lang


def parse_accept_language(header: str | None) -> Lang:
    """``en`` when English is the caller's most preferred of Korean and English, else ``ko``.

    Ranges are weighed by their ``q`` value; equal weights keep header order; ``q=0``
    excludes a language. Unsupported languages and ``*`` are ignored, so the default wins.
    """
    best: tuple[float, int, Lang] | None = None
    for position, part in enumerate((header or "").split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        if not tag or tag == "*":
            continue
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        primary = tag.lower().replace("_", "-").split("-", 1)[0]
        if primary not in ref.LANGS or weight <= 0:
            continue
        lang = ref.normalize_lang(primary)
        if best is None or (-weight, position) < (-best[0], best[1]):
            best = (weight, position, lang)
    return best[2] if best else ref.DEFAULT_LANG


def preferred_language(
    accept_language: Annotated[str | None, Header(alias="Accept-Language")] = None,
) -> Lang:
    """Dependency: the caller's label language from ``Accept-Language``."""
    return parse_accept_language(accept_language)


LangDep = Annotated[Lang, Depends(preferred_language)]


MESSAGES: dict[str, tuple[str, str]] = {
    "AUTH_REQUIRED": ("로그인이 필요합니다.", "Please sign in."),
    "AUTH_ERROR": (
        "토큰이 유효하지 않거나 만료되었습니다.",
        "The token is invalid or has expired.",
    ),
    "SESSION_REVOKED": (
        "로그아웃되었습니다. 다시 로그인하세요.",
        "You were signed out. Please sign in again.",
    ),
    "INVALID_REFRESH_TOKEN": ("다시 로그인하세요.", "Please sign in again."),
    "INVALID_CREDENTIALS": (
        "이메일 또는 비밀번호가 올바르지 않습니다.",
        "The e-mail or password is not correct.",
    ),
    "TOO_MANY_ATTEMPTS": (
        "시도가 너무 많습니다. 잠시 후 다시 시도하세요.",
        "Too many attempts. Please try again later.",
    ),
    "SESSION_EXISTS": ("이미 시작된 세션입니다.", "This session has already started."),
    "CONFLICT": (
        "요청이 현재 상태와 맞지 않습니다.",
        "The request conflicts with the current state.",
    ),
    "RULE_VIOLATION": ("요청을 처리할 수 없습니다.", "The request cannot be carried out."),
    "FORBIDDEN": ("권한이 없습니다.", "You are not allowed to do this."),
    "TWO_FACTOR_REQUIRED": ("2단계 인증 코드를 확인하세요.", "Please check your two-factor code."),
    "WRONG_TWO_FACTOR_CODE": ("인증 코드가 올바르지 않습니다.", "The code is not correct."),
    "TWO_FACTOR_ALREADY_ENABLED": (
        "2단계 인증이 이미 켜져 있습니다.",
        "Two-factor authentication is already on.",
    ),
    "WRONG_PASSWORD": ("비밀번호가 올바르지 않습니다.", "The password is not correct."),
    "ACCOUNT_EXISTS": ("이미 가입된 이메일입니다.", "An account with this e-mail already exists."),
    "ACCOUNT_NOT_FOUND": ("계정을 찾을 수 없습니다.", "The account was not found."),
    "ACCOUNT_DEACTIVATED": ("비활성화된 계정입니다.", "This account is deactivated."),
    "USER_NOT_FOUND": ("사용자를 찾을 수 없습니다.", "The user was not found."),
    "FILE_NOT_FOUND": ("파일을 찾을 수 없습니다.", "The file was not found."),
    "NOT_FOUND": ("찾을 수 없습니다.", "Not found."),
    "VALIDATION_ERROR": ("입력값이 올바르지 않습니다.", "The input is not valid."),
    "CONCURRENT_MODIFICATION": (
        "다른 곳에서 먼저 변경되었습니다. 새로고침 후 다시 시도하세요.",
        "Someone changed this first. Reload and try again.",
    ),
    "INTERNAL_ERROR": ("서버 오류가 발생했습니다.", "Something went wrong on our side."),
    "ONBOARDING_INCOMPLETE": (
        "아직 입력하지 않은 온보딩 항목이 있습니다.",
        "Some onboarding items are still missing.",
    ),
    "INVALID_ENGLISH_NAME": (
        "영어 이름은 2~50자여야 합니다.",
        "The English name must be 2-50 characters.",
    ),
    "INVALID_BIRTH_YEAR": ("출생 연도를 확인하세요.", "Please check the birth year."),
    "INVALID_SCHEDULE": (
        "요일과 시간(HH:MM)을 확인하세요.",
        "Please check the weekday and time (HH:MM).",
    ),
    "INVALID_SETTINGS": ("설정 값이 올바르지 않습니다.", "A setting has an invalid value."),
    "NOTHING_CHOSEN": ("하나 이상 선택하세요.", "Please choose at least one."),
    "NO_LANGUAGES": ("언어를 하나 이상 선택하세요.", "Please choose at least one language."),
    "TARGET_IS_NATIVE": (
        "모국어는 학습 언어로 선택할 수 없습니다.",
        "Your native language cannot be a target language.",
    ),
    "UNKNOWN_LANGUAGE": ("알 수 없는 언어입니다.", "Unknown language."),
    "UNKNOWN_LEVEL": ("알 수 없는 레벨입니다.", "Unknown level."),
    "UNKNOWN_LOCATION": ("알 수 없는 지역입니다.", "Unknown location."),
    "UNKNOWN_OPTION": ("알 수 없는 선택지입니다.", "Unknown option."),
    "UNKNOWN_GENDER": ("알 수 없는 성별 값입니다.", "Unknown gender value."),
    "UNKNOWN_METHOD": ("알 수 없는 소통 방식입니다.", "Unknown communication method."),
    "UNKNOWN_DAILY_MINUTES": ("알 수 없는 학습 시간입니다.", "Unknown daily study time."),
    "IMAGE_EMPTY": ("이미지 파일이 비어 있습니다.", "The image file is empty."),
    "IMAGE_TOO_LARGE": ("이미지는 10MB 이하여야 합니다.", "The image must be at most 10 MB."),
    "IMAGE_UNSUPPORTED_TYPE": (
        "JPEG, PNG, GIF, WebP 이미지만 올릴 수 있습니다.",
        "Only JPEG, PNG, GIF and WebP images are accepted.",
    ),
    "IMAGE_UNDECODABLE": ("이미지를 읽을 수 없습니다.", "The image could not be read."),
    "IMAGE_TOO_MANY_PIXELS": ("이미지 해상도가 너무 큽니다.", "The image has too many pixels."),
    "IMAGE_TOO_SMALL": ("이미지가 너무 작습니다.", "The image is too small."),
    "PAYLOAD_TOO_LARGE": ("요청 본문이 너무 큽니다.", "The request body is too large."),
    "REQUEST_TIMEOUT": ("요청 본문이 도착하지 않았습니다.", "The request body stopped arriving."),
    "OVERLOADED": (
        "요청이 많아 지금은 처리할 수 없습니다. 잠시 후 다시 시도하세요.",
        "The server is busy right now. Please try again shortly.",
    ),
}


def message(code: str, lang: Lang, fallback: str) -> str:
    pair = MESSAGES.get(code)
    if pair is None:
        return fallback
    return pair[0] if lang == "ko" else pair[1]


def request_language(request: Request) -> Lang:
    """The user's chosen app language when the request is signed in and they chose one,
    else ``Accept-Language`` (Korean by default). Works for errors raised anywhere."""
    chosen = getattr(request.state, "language", None)
    if chosen:
        return normalize_lang(chosen)
    user_id = getattr(request.state, "user_id", None)
    if user_id:
        from projections.profiles import get_settings

        runtime = request.app.state.runtime
        setting = get_settings(runtime.read_models, user_id).get("language", {}).get("appLanguage")
        if setting:
            request.state.language = normalize_lang(setting)
            return normalize_lang(setting)
    return parse_accept_language(request.headers.get("accept-language"))


def user_language(request: Request, caller: CallerDep) -> Lang:
    """Dependency: the language for labels in a signed-in user's responses."""
    return request_language(request)


UserLang = Annotated[Lang, Depends(user_language)]
