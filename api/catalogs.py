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

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from api.envelope import ok
from domain import reference as ref
from domain.reference import CodeCatalog, IdCatalog, Lang, OptionCatalog

router = APIRouter(prefix="/api/v1", tags=["reference"])

CACHE_CONTROL = "public, max-age=3600"


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


def _cacheable(response: Response) -> None:
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Vary"] = "Accept-Language"


# ======================================================================================
# Item shapes (usable by other routers, e.g. /onboarding/data availableOptions)
# ======================================================================================


def language_item(item: ref.Language, lang: Lang) -> dict[str, Any]:
    name = item.label.get(lang)
    return {
        "id": item.id,
        "languageId": item.id,
        "language_id": item.id,
        "name": name,
        "languageName": name,
        "language_name": name,
        "label": name,
        "code": item.code,
        "languageCode": item.code,
        "language_code": item.code,
        "nativeName": item.native_name,
    }


def level_item(item: ref.LevelType, lang: Lang) -> dict[str, Any]:
    name = item.label.get(lang)
    return {
        "id": item.id,
        "langLevelId": item.id,
        "lang_level_id": item.id,
        "name": name,
        "langLevelName": name,
        "lang_level_name": name,
        "label": name,
        "title": item.title.get(lang),
        "code": item.code,
        "cefr": item.cefr,
        "category": item.kind,
        "order": item.order,
    }


def location_item(item: ref.Location, lang: Lang) -> dict[str, Any]:
    return {
        "id": item.id,
        "locationId": item.id,
        "location_id": item.id,
        "city": item.city.get(lang),
        "country": item.country.get(lang),
        "countryCode": item.country_code,
        "timezone": item.timezone,
        "timeZone": item.timezone,
        "time_zone": item.timezone,
        "name": item.label.get(lang),
        "label": item.label.get(lang),
    }


def _option_item(
    item: ref.Option | ref.GroupSize,
    lang: Lang,
    id_keys: tuple[str, ...],
    name_keys: tuple[str, ...],
) -> dict[str, Any]:
    name = item.label.get(lang)
    body: dict[str, Any] = dict.fromkeys((*id_keys, "id"), item.id)
    body.update(dict.fromkeys((*name_keys, "name", "label"), name))
    body["code"] = item.code
    return body


def option_item_factory(
    id_keys: tuple[str, ...], name_keys: tuple[str, ...]
) -> Callable[[ref.Option, Lang], dict[str, Any]]:
    def render(item: ref.Option, lang: Lang) -> dict[str, Any]:
        return _option_item(item, lang, id_keys, name_keys)

    return render


motivation_item = option_item_factory(
    ("motivationId", "motivation_id"), ("motivationName", "motivation_name")
)
topic_item = option_item_factory(("topicId", "topic_id"), ("topicName", "topic_name"))
learning_style_item = option_item_factory(
    ("learningStyleId", "learning_style_id"), ("learningStyleName", "learning_style_name")
)
learning_expectation_item = option_item_factory(
    ("learningExpectationId", "learning_expectation_id"),
    ("learningExpectationName", "learning_expectation_name"),
)
partner_personality_item = option_item_factory(
    ("partnerPersonalityId", "partner_personality_id"),
    # The contract lists ``description|label`` as this list's label fields.
    ("partnerPersonality", "partner_personality", "partnerPersonalityName", "description"),
)


def group_size_item(item: ref.GroupSize, lang: Lang) -> dict[str, Any]:
    body = _option_item(
        item, lang, ("groupSizeId", "group_size_id"), ("groupSize", "group_size", "groupSizeName")
    )
    body["people"] = item.people
    return body


def code_item(item: ref.CodeOption, lang: Lang, id_key: str | None = None) -> dict[str, Any]:
    text = item.label.get(lang)
    body: dict[str, Any] = {
        "id": item.code,
        "name": item.code,
        "code": item.code,
        "value": item.code,
        "description": text,
        "label": text,
        "displayName": text,
        "sortOrder": item.id,
    }
    if id_key:
        body[id_key] = item.id
    if item.description is not None:
        body["detail"] = item.description.get(lang)
    if item.minutes is not None:
        body["minutes"] = item.minutes
    return body


def schedule_slot_item(item: ref.ScheduleSlot, lang: Lang) -> dict[str, Any]:
    return {
        "id": item.id,
        "scheduleId": item.id,
        "schedule_id": item.id,
        "dayOfWeek": item.day_of_week,
        "partOfDay": item.part_of_day,
        "timeSlot": f"{item.start}-{item.end}",
        "name": item.label.get(lang),
        "label": item.label.get(lang),
        "code": item.code,
    }


_OPTION_RENDERERS: dict[OptionCatalog, Callable[[ref.Option, Lang], dict[str, Any]]] = {
    "motivations": motivation_item,
    "topics": topic_item,
    "learning_styles": learning_style_item,
    "learning_expectations": learning_expectation_item,
    "partner_personalities": partner_personality_item,
}
_CODE_ID_KEYS: dict[CodeCatalog, str] = {"communication_methods": "communicationMethodId"}


def _render_list(catalog: IdCatalog | CodeCatalog, lang: Lang) -> list[dict[str, Any]]:
    if catalog in ref.CODE_CATALOGS:
        return [
            code_item(i, lang, _CODE_ID_KEYS.get(catalog))
            for i in ref.code_options(catalog, listed_only=True)
        ]
    if catalog in _OPTION_RENDERERS:
        render = _OPTION_RENDERERS[catalog]
        return [render(i, lang) for i in ref.options(catalog)]
    renderers: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "languages": lambda: [language_item(i, lang) for i in ref.languages()],
        "language_levels": lambda: [level_item(i, lang) for i in ref.language_levels()],
        "partner_levels": lambda: [level_item(i, lang) for i in ref.partner_levels()],
        "locations": lambda: [location_item(i, lang) for i in ref.locations()],
        "group_sizes": lambda: [group_size_item(i, lang) for i in ref.group_sizes()],
        "schedule_slots": lambda: [schedule_slot_item(i, lang) for i in ref.schedule_slots()],
    }
    return renderers[catalog]()


@cache
def _cached_list(catalog: IdCatalog | CodeCatalog, lang: Lang) -> tuple[dict[str, Any], ...]:
    return tuple(_render_list(catalog, lang))


def catalog_items(catalog: IdCatalog | CodeCatalog, lang: Lang) -> list[dict[str, Any]]:
    """The rendered list of any catalogue in ``lang``, as the routes return it (fresh copies,
    safe to modify; usable for ``/onboarding/data`` ``availableOptions``)."""
    return [dict(item) for item in _cached_list(catalog, lang)]


# ======================================================================================
# Routes
# ======================================================================================

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
