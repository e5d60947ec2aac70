"""The shipped reference catalogues: file integrity, original ids, and the lookup helpers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import pytest

from domain import reference as ref

DATA_DIR = Path(str(resources.files("domain").joinpath("reference_data")))
ALL_CATALOGS: tuple[str, ...] = (*ref.ID_CATALOGS, *ref.CODE_CATALOGS)


def raw_items(catalog: str) -> list[dict[str, Any]]:
    doc = json.loads((DATA_DIR / f"{catalog}.json").read_text(encoding="utf-8"))
    items: list[dict[str, Any]] = doc["items"]
    return items


def labels_in(value: Any) -> Iterator[dict[str, Any]]:
    """Every ``{ko, en}`` object nested anywhere in an item."""
    if isinstance(value, dict):
        if {"ko", "en"} & set(value):
            yield value
        else:
            for nested in value.values():
                yield from labels_in(nested)


@pytest.fixture(autouse=True)
def fresh_store() -> Iterator[None]:
    ref._store.cache_clear()
    yield
    ref._store.cache_clear()


# --------------------------------------------------------------------------- files


def test_every_catalogue_has_exactly_one_file_and_every_file_is_a_catalogue() -> None:
    files = {p.stem for p in DATA_DIR.glob("*.json")}

    assert files == set(ALL_CATALOGS)


@pytest.mark.parametrize("catalog", ALL_CATALOGS)
def test_file_names_its_catalogue_and_says_where_its_ids_come_from(catalog: str) -> None:
    doc = json.loads((DATA_DIR / f"{catalog}.json").read_text(encoding="utf-8"))

    assert doc["catalog"] == catalog
    assert doc["source"].strip()
    assert doc["items"]


@pytest.mark.parametrize("catalog", ALL_CATALOGS)
def test_ids_are_unique_positive_integers(catalog: str) -> None:
    ids = [item["id"] for item in raw_items(catalog)]

    assert all(type(i) is int and i > 0 for i in ids)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    "catalog", [c for c in ALL_CATALOGS if c not in {"languages", "locations"}]
)
def test_codes_are_unique_upper_snake(catalog: str) -> None:
    codes = [item["code"] for item in raw_items(catalog)]

    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", c) for c in codes)


@pytest.mark.parametrize("catalog", ALL_CATALOGS)
def test_every_text_has_a_korean_and_an_english_version(catalog: str) -> None:
    for item in raw_items(catalog):
        found = list(labels_in(item))
        assert found, f"{catalog} {item['id']} has no label"
        for text in found:
            assert set(text) == {"ko", "en"}, (catalog, item["id"], text)
            assert text["ko"].strip()
            assert text["en"].strip()
            assert text["en"].isascii() or catalog == "locations", (catalog, text)


def test_the_loader_accepts_every_shipped_file() -> None:
    ref.load()

    assert len(ref.languages()) == len(raw_items("languages"))
    assert len(ref.locations()) == len(raw_items("locations"))


# --------------------------------------------------------------------------- contents


def test_languages_have_unique_iso_639_1_codes_and_cover_the_main_pairs() -> None:
    codes = [lang.code for lang in ref.languages()]

    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z]{2}", c) for c in codes)
    assert {"ko", "en", "ja", "zh", "es", "fr", "de", "vi"} <= set(codes)


def test_original_seed_ids_are_kept() -> None:
    original_languages = ["ko", "en", "ja", "zh", "fr", "de", "es", "ru", "vi", "th", "ar", "pt"]

    assert [ref.language(i).code for i in range(1, 13)] == original_languages  # type: ignore[union-attr]
    assert ref.label(ref.motivation(1)) == "취업/진학"  # type: ignore[arg-type]
    assert ref.label(ref.topic(9)) == "IT"  # type: ignore[arg-type]
    assert ref.label(ref.partner_personality(2)).startswith("교정과 피드백")  # type: ignore[arg-type]
    assert ref.label(ref.group_size(1)) == "1:1"  # type: ignore[arg-type]
    seoul, new_york = ref.location(1), ref.location(19)
    assert seoul is not None and (seoul.city.en, seoul.timezone) == ("Seoul", "Asia/Seoul")
    assert new_york is not None and new_york.timezone == "America/New_York"
    assert len(ref.options("motivations")) == 9
    assert len(ref.options("topics")) == 9
    assert len(ref.options("learning_styles")) == 3
    assert len(ref.options("learning_expectations")) == 4
    assert len(ref.options("partner_personalities")) == 5
    assert len(ref.group_sizes()) == 4
    assert len(ref.schedule_slots()) == 21


def test_every_location_timezone_is_a_valid_iana_zone() -> None:
    zones = available_timezones()

    for loc in ref.locations():
        assert loc.timezone in zones, loc
        ZoneInfo(loc.timezone)
        assert re.fullmatch(r"[A-Z]{2}", loc.country_code)


def test_locations_include_the_main_korean_cities_and_are_not_duplicated() -> None:
    cities = [(loc.country_code, loc.city.en) for loc in ref.locations()]

    assert len(cities) == len(set(cities))
    assert {("KR", "Seoul"), ("KR", "Busan"), ("JP", "Tokyo"), ("GB", "London")} <= set(cities)
    assert len(cities) >= 30


def test_level_ids_are_in_the_documented_ranges() -> None:
    assert [lv.id for lv in ref.language_levels()] == list(range(100, 107))
    assert [lv.id for lv in ref.partner_levels()] == list(range(200, 204))
    assert {lv.kind for lv in ref.language_levels()} == {"LANGUAGE"}
    assert {lv.kind for lv in ref.partner_levels()} == {"PARTNER"}


def test_language_levels_climb_the_cefr_scale_from_a1_to_c2() -> None:
    levels = ref.language_levels()
    ranks = [ref.CEFR_LEVELS.index(lv.cefr) for lv in levels if lv.cefr]

    assert len(ranks) == len(levels)
    assert ranks == sorted(ranks)
    assert (levels[0].cefr, levels[-1].cefr) == ("A1", "C2")
    assert [lv.order for lv in levels] == list(range(1, len(levels) + 1))


@pytest.mark.parametrize(
    ("catalog", "pattern", "required"),
    [
        ("partner_gender_types", r"^[A-Z_]+$", {"MALE", "FEMALE", "ANY"}),
        ("user_gender_types", r"^[A-Z_]+$", {"MALE", "FEMALE", "OTHER"}),
        ("communication_methods", r"^[A-Z_]+$", {"TEXT", "VOICE", "VIDEO", "HYBRID"}),
        ("daily_minutes", r"^[A-Z0-9_]+$", {"MINUTES_10", "MINUTES_15", "MINUTES_30"}),
        ("days_of_week", r"^[A-Z_]+$", {"MONDAY", "SUNDAY"}),
    ],
)
def test_code_catalogues_match_the_contract(
    catalog: ref.CodeCatalog, pattern: str, required: set[str]
) -> None:
    listed = {o.code for o in ref.code_options(catalog, listed_only=True)}

    assert all(re.match(pattern, code) for code in ref.codes(catalog))
    assert required <= listed


def test_partner_gender_other_is_accepted_but_not_offered() -> None:
    assert ref.codes("partner_gender_types") == ("MALE", "FEMALE", "ANY", "OTHER")
    assert "OTHER" not in {
        o.code for o in ref.code_options("partner_gender_types", listed_only=True)
    }
    assert ref.is_code("partner_gender_types", "other")


def test_daily_minutes_carry_their_minute_value() -> None:
    for option in ref.code_options("daily_minutes"):
        assert option.code == f"MINUTES_{option.minutes}"


def test_schedule_slots_are_seven_days_by_three_parts() -> None:
    slots = ref.schedule_slots()
    days = ref.codes("days_of_week")

    assert [(s.day_of_week, s.part_of_day) for s in slots] == [
        (d, p) for d in days for p in ref.PARTS_OF_DAY
    ]
    assert all(s.code == f"{s.day_of_week}_{s.part_of_day}" for s in slots)


# --------------------------------------------------------------------------- helpers


def test_typed_lookups_return_the_entry_or_none() -> None:
    assert ref.language(1) == ref.language_by_code(" KO ")
    assert ref.language(999) is None
    assert ref.is_language(2) and not ref.is_language(0)
    assert ref.language_level(100) is not None and ref.language_level(200) is None
    assert ref.partner_level(203) is not None and ref.partner_level(106) is None
    assert ref.is_location(1) and not ref.is_location(10_000)
    assert ref.learning_style(3) is not None and ref.learning_expectation(5) is None


def test_a_partner_level_is_accepted_where_oblang3_sends_it_as_the_current_level() -> None:
    found = ref.level(201)

    assert found is not None and found.kind == "PARTNER"
    assert ref.is_level(104) and ref.is_level(201) and not ref.is_level(150)
    assert ref.cefr_for_level(102) == "B1"
    assert ref.cefr_for_level(203) is None


def test_booleans_are_never_ids() -> None:
    assert ref.language(True) is None
    assert ref.motivation(True) is None
    assert ref.entry("topics", True) is None
    assert ref.unknown_ids("topics", [True]) == [True]


def test_unknown_ids_lists_each_unknown_id_once_in_input_order() -> None:
    assert ref.unknown_ids("motivations", [1, 2, 3]) == []
    assert ref.unknown_ids("motivations", [42, 1, 0, 42, -3]) == [42, 0, -3]
    assert ref.valid_ids("motivations", [1, 77]) == [77]
    assert ref.motivation_ids() == frozenset(range(1, 10))
    assert ref.ids("language_levels") == frozenset(range(100, 107))


def test_normalize_code_accepts_case_spaces_aliases_and_minute_values() -> None:
    assert ref.normalize_code("communication_methods", " video ") == "VIDEO"
    assert ref.normalize_code("communication_methods", "FAX") is None
    assert ref.normalize_code("user_gender_types", "none") == "NOT_SPECIFIED"
    assert ref.normalize_code("daily_minutes", 30) == "MINUTES_30"
    assert ref.normalize_code("daily_minutes", "15") == "MINUTES_15"
    assert ref.normalize_code("daily_minutes", 17) is None
    assert ref.normalize_code("days_of_week", "tue") == "TUESDAY"
    assert ref.normalize_code("daily_minutes", None) is None
    assert ref.daily_minutes("MINUTES_45") == 45
    assert ref.daily_minutes("nope") is None


def test_schedule_slot_for_maps_a_posted_time_to_its_part_of_day() -> None:
    def code(day: str, time: str) -> str | None:
        slot = ref.schedule_slot_for(day, time)
        return slot.code if slot else None

    assert code("MONDAY", "09:00") == "MONDAY_MORNING"
    assert code("monday", "12:59") == "MONDAY_MORNING"
    assert code("WEDNESDAY", "13:00") == "WEDNESDAY_AFTERNOON"
    assert code("SUN", "19:00:00") == "SUNDAY_EVENING"
    assert code("FRIDAY", "23:30") == "FRIDAY_EVENING"
    assert code("FUNDAY", "10:00") is None
    assert code("MONDAY", "25:00") is None
    assert code("MONDAY", "9am") is None


def test_labels_come_in_the_requested_language() -> None:
    korean = ref.language_by_code("ko")
    seoul = ref.location(1)
    assert korean is not None and seoul is not None

    assert ref.label(korean) == "한국어"
    assert ref.label(korean, "en") == "Korean"
    assert ref.label(seoul, "en") == "Seoul, South Korea"
    assert ref.label(seoul, "ko") == "서울, 대한민국"
    assert ref.normalize_lang("en-US") == "en"
    assert ref.normalize_lang("EN") == "en"
    assert ref.normalize_lang("fr") == "ko"
    assert ref.normalize_lang(None) == "ko"


def test_entries_are_immutable() -> None:
    korean = ref.language(1)
    assert korean is not None

    with pytest.raises(AttributeError):
        korean.code = "xx"  # type: ignore[misc]


# --------------------------------------------------------------------------- loader checks


def patched_items(
    monkeypatch: pytest.MonkeyPatch, catalog: str, items: list[dict[str, Any]]
) -> None:
    original = ref._read

    def fake(name: str) -> list[dict[str, Any]]:
        return items if name == catalog else original(name)

    monkeypatch.setattr(ref, "_read", fake)


@pytest.mark.parametrize(
    ("catalog", "mutate", "message"),
    [
        ("topics", lambda items: items.append(dict(items[0])), "duplicate id"),
        ("topics", lambda items: items[0]["label"].pop("en"), "'en'"),
        ("topics", lambda items: items[0].update(code="lower"), "UPPER_SNAKE"),
        ("language_levels", lambda items: items[0].update(id=200), "outside 100-199"),
        ("partner_levels", lambda items: items[0].update(cefr="D9"), "cefr"),
        ("daily_minutes", lambda items: items[1].update(aliases=["MINUTES_10"]), "used twice"),
        ("languages", lambda items: items[0].update(code="kor"), "ISO 639-1"),
    ],
)
def test_the_loader_rejects_malformed_catalogues(
    monkeypatch: pytest.MonkeyPatch, catalog: str, mutate: Any, message: str
) -> None:
    items = json.loads(json.dumps(raw_items(catalog)))
    mutate(items)
    patched_items(monkeypatch, catalog, items)

    with pytest.raises(ref.ReferenceDataError, match=re.escape(message)):
        ref.load()
