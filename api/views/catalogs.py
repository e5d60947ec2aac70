"""The reference lists as the SPA reads them: every catalogue rendered in Korean or English,
with each id and label repeated under every field name the SPA accepts (``api/catalogs.py``
explains the shapes). Used by the catalogue routes and by ``/onboarding/data``'s
``availableOptions``, so an item's shape is declared once."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from domain import reference as ref
from domain.reference import CodeCatalog, IdCatalog, Lang, OptionCatalog


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
