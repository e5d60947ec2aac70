"""Reference-list routes of onboarding and profile (spa-contract 4.2 and 4.3).

Public and cacheable: the lists carry nothing personal, so no bearer token is needed. Labels
follow ``Accept-Language`` (Korean by default, English when the header prefers ``en``), so
responses also carry ``Vary: Accept-Language``.

Every item repeats its id and label under each field name the SPA accepts, e.g. a language
is ``{id, languageId, language_id, name, languageName, language_name, code, ...}``. Id-list
items carry no ``description`` (the SPA might show it as a second line), except partner
personalities, where the contract names ``description|label`` as the label. Code
catalogues (genders, communication methods, daily minutes) put the UPPER_SNAKE code in
``name`` and ``id``, and the display text in ``description``, ``label`` and ``displayName``,
because the SPA shows ``description`` and posts ``name``. The longer explanation, where one
exists, is in ``detail``.

All bodies use the ``{success, data, meta}`` envelope, except ``GET /users/gender-type``,
whose body must be a bare array (contract 3.3).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from api.envelope import ok
from api.i18n import LangDep
from api.views.catalogs import catalog_items

router = APIRouter(prefix="/api/v1", tags=["reference"])

CACHE_CONTROL = "public, max-age=3600"


def _cacheable(response: Response) -> None:
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Vary"] = "Accept-Language"


Envelope = dict[str, Any]


@router.get("/onboarding/language/languages", dependencies=[Depends(_cacheable)])
def get_languages(lang: LangDep) -> Envelope:
    return ok(catalog_items("languages", lang))


@router.get("/onboarding/language/level-types-language", dependencies=[Depends(_cacheable)])
def get_language_level_types(lang: LangDep) -> Envelope:
    return ok(catalog_items("language_levels", lang))


@router.get("/onboarding/language/level-types-partner", dependencies=[Depends(_cacheable)])
def get_partner_level_types(lang: LangDep) -> Envelope:
    return ok(catalog_items("partner_levels", lang))


@router.get("/onboarding/interest/motivations", dependencies=[Depends(_cacheable)])
def get_motivations(lang: LangDep) -> Envelope:
    return ok(catalog_items("motivations", lang))


@router.get("/onboarding/interest/topics", dependencies=[Depends(_cacheable)])
def get_topics(lang: LangDep) -> Envelope:
    return ok(catalog_items("topics", lang))


@router.get("/onboarding/interest/learning-styles", dependencies=[Depends(_cacheable)])
def get_learning_styles(lang: LangDep) -> Envelope:
    return ok(catalog_items("learning_styles", lang))


@router.get("/onboarding/interest/learning-expectations", dependencies=[Depends(_cacheable)])
def get_learning_expectations(lang: LangDep) -> Envelope:
    return ok(catalog_items("learning_expectations", lang))


@router.get("/onboarding/partner/gender-type", dependencies=[Depends(_cacheable)])
def get_partner_gender_types(lang: LangDep) -> Envelope:
    return ok(catalog_items("partner_gender_types", lang))


@router.get("/onboarding/partner/personalities", dependencies=[Depends(_cacheable)])
def get_partner_personalities(lang: LangDep) -> Envelope:
    return ok(catalog_items("partner_personalities", lang))


@router.get("/onboarding/schedule/communication-methods", dependencies=[Depends(_cacheable)])
def get_communication_methods(lang: LangDep) -> Envelope:
    return ok(catalog_items("communication_methods", lang))


@router.get("/onboarding/schedule/group-sizes", dependencies=[Depends(_cacheable)])
def get_group_sizes(lang: LangDep) -> Envelope:
    return ok(catalog_items("group_sizes", lang))


@router.get("/onboarding/schedule/daily-methods", dependencies=[Depends(_cacheable)])
def get_daily_methods(lang: LangDep) -> Envelope:
    return ok(catalog_items("daily_minutes", lang))


@router.get("/users/locations", dependencies=[Depends(_cacheable)])
def get_locations(lang: LangDep) -> Envelope:
    return ok(catalog_items("locations", lang))


@router.get("/users/gender-type", dependencies=[Depends(_cacheable)])
def get_user_gender_types(lang: LangDep) -> list[dict[str, Any]]:
    """A bare array of ``{name, description}`` (contract 3.3: ObInfoGoogle reads the body)."""
    return catalog_items("user_gender_types", lang)
