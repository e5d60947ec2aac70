"""Reference catalogues that ship with the project (languages, levels, locations, onboarding
options, code lists), bilingual (``ko`` / ``en``), loaded once from ``reference_data/*.json``.

Where the ids come from (each JSON file repeats this in its ``source`` field):

* **Original ids.** These ids follow the insertion order of the original seed
  (``STYDYMATE-CLIENT workers/d1/seeds/seed_data.sql``, AUTOINCREMENT from 1), so data
  exported from the original keeps its meaning:

  * languages 1-12 (ko, en, ja, zh, fr, de, es, ru, vi, th, ar, pt);
  * locations 1-46;
  * motivations 1-9, topics 1-9, learning styles 1-3, learning expectations 1-4;
  * partner personalities 1-5, group sizes 1-4;
  * schedule slots 1-21 (MONDAY..SUNDAY x morning / afternoon / evening).

  The level ids come from the same seed: language levels 100-106 and partner levels 200-203.
  Communication methods 1-4 and daily minutes 1-5 are the worker's defaults.
* **Additions of the rewrite.** Languages 13-16 (it, id, hi, tr), locations 47-53 (Busan,
  Incheon, Daegu, Daejeon, Gwangju, Jeju, Osaka), MINUTES_45 / MINUTES_60, the user gender
  NOT_SPECIFIED, every English label, every ``code`` of an id catalogue, and the level
  ``order``, ``cefr`` and ``title``. The original seed left the level columns NULL.
* **Stable ids.** Ids are never reused or renumbered. Retire an entry by keeping it, not by
  deleting it.

Pure Python: no web or database imports. The command layer validates with the ``is_*`` /
``unknown_ids`` / ``normalize_code`` helpers; the API renders with ``label``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal, TypeAlias, get_args

Lang = Literal["ko", "en"]
LANGS: tuple[Lang, ...] = ("ko", "en")
DEFAULT_LANG: Lang = "ko"

IdCatalog = Literal[
    "languages",
    "language_levels",
    "partner_levels",
    "locations",
    "motivations",
    "topics",
    "learning_styles",
    "learning_expectations",
    "partner_personalities",
    "group_sizes",
    "schedule_slots",
]
CodeCatalog = Literal[
    "partner_gender_types",
    "user_gender_types",
    "communication_methods",
    "daily_minutes",
    "days_of_week",
]
OptionCatalog = Literal[
    "motivations", "topics", "learning_styles", "learning_expectations", "partner_personalities"
]
"""The id catalogues whose entries are plain :class:`Option`."""
ID_CATALOGS: tuple[IdCatalog, ...] = get_args(IdCatalog)
CODE_CATALOGS: tuple[CodeCatalog, ...] = get_args(CodeCatalog)

LevelKind = Literal["LANGUAGE", "PARTNER"]
LANGUAGE_LEVEL_IDS = range(100, 200)
"""The id band of language (self-assessed) levels; the shipped ids are 100-106."""
PARTNER_LEVEL_IDS = range(200, 300)
"""The id band of desired-partner levels; the shipped ids are 200-203."""
CEFR_LEVELS: tuple[str, ...] = ("A1", "A2", "B1", "B2", "C1", "C2")
PARTS_OF_DAY: tuple[str, ...] = ("MORNING", "AFTERNOON", "EVENING")

CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
"""UPPER_SNAKE; digits allowed after the first letter (``MINUTES_10``)."""
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?$")


class ReferenceDataError(ValueError):
    """A shipped catalogue file is malformed (raised on first use, caught by the unit tests)."""


@dataclass(frozen=True, slots=True)
class Label:
    """A text in both supported languages."""

    ko: str
    en: str

    def get(self, lang: Lang) -> str:
        return self.en if lang == "en" else self.ko


@dataclass(frozen=True, slots=True)
class Language:
    id: int
    code: str
    """ISO 639-1, lower case (``ko``)."""
    label: Label
    native_name: str


@dataclass(frozen=True, slots=True)
class LevelType:
    """A language level (ids 100-106) or a desired-partner level (ids 200-203)."""

    id: int
    kind: LevelKind
    code: str
    order: int
    cefr: str | None
    """The CEFR level it maps to (partner levels: the minimum wished for); None = relative."""
    title: Label
    """Short name ("중급" / "Intermediate")."""
    label: Label
    """The original descriptive sentence the SPA shows as the option."""


@dataclass(frozen=True, slots=True)
class Location:
    id: int
    city: Label
    country: Label
    country_code: str
    """ISO 3166-1 alpha-2."""
    timezone: str
    """IANA zone name."""

    @property
    def label(self) -> Label:
        return Label(f"{self.city.ko}, {self.country.ko}", f"{self.city.en}, {self.country.en}")


@dataclass(frozen=True, slots=True)
class Option:
    """An entry of a plain id catalogue (motivation, topic, learning style or expectation,
    partner personality)."""

    id: int
    code: str
    label: Label


@dataclass(frozen=True, slots=True)
class GroupSize:
    id: int
    code: str
    label: Label
    people: int | None
    """Participants including the user; None = no preference."""


@dataclass(frozen=True, slots=True)
class ScheduleSlot:
    id: int
    code: str
    day_of_week: str
    part_of_day: str
    start: str
    """Nominal start, ``HH:MM``."""
    end: str
    """Nominal end, ``HH:MM``."""
    label: Label


@dataclass(frozen=True, slots=True)
class CodeOption:
    """An entry of a code catalogue: the code is the value the SPA posts."""

    id: int
    code: str
    label: Label
    description: Label | None
    listed: bool
    """False = accepted on input but not offered by the GET list (partner gender OTHER)."""
    aliases: tuple[str, ...]
    minutes: int | None
    """Daily minutes only."""


IdEntry: TypeAlias = Language | LevelType | Location | Option | GroupSize | ScheduleSlot
Labelled: TypeAlias = IdEntry | CodeOption


# ======================================================================================
# Loading and validation
# ======================================================================================


@dataclass(frozen=True)
class _Store:
    languages: Mapping[int, Language]
    language_levels: Mapping[int, LevelType]
    partner_levels: Mapping[int, LevelType]
    locations: Mapping[int, Location]
    options: Mapping[str, Mapping[int, Option]]
    group_sizes: Mapping[int, GroupSize]
    schedule_slots: Mapping[int, ScheduleSlot]
    code_options: Mapping[str, tuple[CodeOption, ...]]
    code_index: Mapping[str, Mapping[str, CodeOption]]

    by_name: Mapping[str, Mapping[int, IdEntry]] = field(init=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Mapping[int, IdEntry]] = {
            "languages": self.languages,
            "language_levels": self.language_levels,
            "partner_levels": self.partner_levels,
            "locations": self.locations,
            "group_sizes": self.group_sizes,
            "schedule_slots": self.schedule_slots,
            **self.options,
        }
        object.__setattr__(self, "by_name", by_name)

    def id_catalog(self, name: IdCatalog) -> Mapping[int, IdEntry]:
        return self.by_name[name]


_OPTION_CATALOGS: tuple[OptionCatalog, ...] = get_args(OptionCatalog)


def _fail(catalog: str, message: str) -> ReferenceDataError:
    return ReferenceDataError(f"reference_data/{catalog}.json: {message}")


def _read(catalog: str) -> list[dict[str, Any]]:
    path = resources.files("domain").joinpath("reference_data", f"{catalog}.json")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(catalog, f"unreadable ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("catalog") != catalog:
        raise _fail(catalog, "missing or wrong 'catalog' field")
    items = doc.get("items")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise _fail(catalog, "'items' must be a non-empty list of objects")
    return items


def _str(catalog: str, item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(catalog, f"item {item.get('id')!r}: '{key}' must be a non-empty string")
    return value


def _int(catalog: str, item: Mapping[str, Any], key: str) -> int:
    value = item.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _fail(catalog, f"item {item.get('id')!r}: '{key}' must be a positive integer")
    return value


def _label(catalog: str, item: Mapping[str, Any], key: str = "label") -> Label:
    raw = item.get(key)
    if not isinstance(raw, dict):
        raise _fail(catalog, f"item {item.get('id')!r}: '{key}' must be an object {{ko, en}}")
    return Label(_str(catalog, raw, "ko"), _str(catalog, raw, "en"))


def _code(catalog: str, item: Mapping[str, Any]) -> str:
    code = _str(catalog, item, "code")
    if not CODE_PATTERN.match(code):
        raise _fail(catalog, f"code {code!r} is not UPPER_SNAKE")
    return code


def _by_id(catalog: str, entries: Iterable[Any]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    codes: set[str] = set()
    for entry in entries:
        code = getattr(entry, "code", None)
        if entry.id in out:
            raise _fail(catalog, f"duplicate id {entry.id}")
        if code is not None and code in codes:
            raise _fail(catalog, f"duplicate code {code!r}")
        out[entry.id] = entry
        if code is not None:
            codes.add(code)
    return out


def _language(item: Mapping[str, Any]) -> Language:
    code = _str("languages", item, "code")
    if not re.fullmatch(r"[a-z]{2}", code):
        raise _fail("languages", f"code {code!r} is not ISO 639-1")
    return Language(
        _int("languages", item, "id"),
        code,
        _label("languages", item),
        _str("languages", item, "nativeName"),
    )


def _level(catalog: IdCatalog, kind: LevelKind, band: range, item: Mapping[str, Any]) -> LevelType:
    level_id = _int(catalog, item, "id")
    if level_id not in band:
        raise _fail(catalog, f"id {level_id} is outside {band.start}-{band.stop - 1}")
    cefr = item.get("cefr")
    if cefr is not None and cefr not in CEFR_LEVELS:
        raise _fail(catalog, f"item {level_id}: cefr {cefr!r} is not one of {CEFR_LEVELS}")
    return LevelType(
        level_id,
        kind,
        _code(catalog, item),
        _int(catalog, item, "order"),
        cefr,
        _label(catalog, item, "title"),
        _label(catalog, item),
    )


def _location(item: Mapping[str, Any]) -> Location:
    cc = _str("locations", item, "countryCode")
    if not re.fullmatch(r"[A-Z]{2}", cc):
        raise _fail("locations", f"countryCode {cc!r} is not ISO 3166-1 alpha-2")
    return Location(
        _int("locations", item, "id"),
        _label("locations", item, "city"),
        _label("locations", item, "country"),
        cc,
        _str("locations", item, "timezone"),
    )


def _group_size(item: Mapping[str, Any]) -> GroupSize:
    people = item.get("people")
    if people is not None:
        people = _int("group_sizes", item, "people")
    return GroupSize(
        _int("group_sizes", item, "id"),
        _code("group_sizes", item),
        _label("group_sizes", item),
        people,
    )


def _slot(item: Mapping[str, Any]) -> ScheduleSlot:
    cat = "schedule_slots"
    start, end = _str(cat, item, "start"), _str(cat, item, "end")
    if not (_TIME.match(start) and _TIME.match(end) and start < end):
        raise _fail(cat, f"item {item.get('id')!r}: bad time range {start}-{end}")
    part = _str(cat, item, "partOfDay")
    if part not in PARTS_OF_DAY:
        raise _fail(cat, f"item {item.get('id')!r}: partOfDay {part!r}")
    return ScheduleSlot(
        _int(cat, item, "id"),
        _code(cat, item),
        _str(cat, item, "dayOfWeek"),
        part,
        start,
        end,
        _label(cat, item),
    )


def _code_option(catalog: CodeCatalog, item: Mapping[str, Any]) -> CodeOption:
    aliases = item.get("aliases", [])
    if not isinstance(aliases, list) or not all(
        isinstance(a, str) and CODE_PATTERN.match(a) for a in aliases
    ):
        raise _fail(catalog, f"item {item.get('id')!r}: aliases must be UPPER_SNAKE strings")
    listed = item.get("listed", True)
    if not isinstance(listed, bool):
        raise _fail(catalog, f"item {item.get('id')!r}: listed must be a boolean")
    minutes = _int(catalog, item, "minutes") if "minutes" in item else None
    return CodeOption(
        _int(catalog, item, "id"),
        _code(catalog, item),
        _label(catalog, item),
        _label(catalog, item, "description") if "description" in item else None,
        listed,
        tuple(aliases),
        minutes,
    )


def _index(catalog: CodeCatalog, options: tuple[CodeOption, ...]) -> dict[str, CodeOption]:
    index: dict[str, CodeOption] = {}
    ids: set[int] = set()
    for option in options:
        if option.id in ids:
            raise _fail(catalog, f"duplicate id {option.id}")
        ids.add(option.id)
        keys = [option.code, *option.aliases]
        if option.minutes is not None:
            keys.append(str(option.minutes))
        for key in keys:
            if key in index:
                raise _fail(catalog, f"code or alias {key!r} is used twice")
            index[key] = option
    return index


@cache
def _store() -> _Store:
    code_options: dict[str, tuple[CodeOption, ...]] = {
        name: tuple(_code_option(name, item) for item in _read(name)) for name in CODE_CATALOGS
    }
    slots: dict[int, ScheduleSlot] = _by_id("schedule_slots", map(_slot, _read("schedule_slots")))
    days = {option.code for option in code_options["days_of_week"]}
    for slot in slots.values():
        if slot.day_of_week not in days:
            raise _fail("schedule_slots", f"slot {slot.id}: unknown day {slot.day_of_week!r}")
    return _Store(
        languages=_by_id("languages", map(_language, _read("languages"))),
        language_levels=_by_id(
            "language_levels",
            (
                _level("language_levels", "LANGUAGE", LANGUAGE_LEVEL_IDS, i)
                for i in _read("language_levels")
            ),
        ),
        partner_levels=_by_id(
            "partner_levels",
            (
                _level("partner_levels", "PARTNER", PARTNER_LEVEL_IDS, i)
                for i in _read("partner_levels")
            ),
        ),
        locations=_by_id("locations", map(_location, _read("locations"))),
        options={
            name: _by_id(
                name,
                (Option(_int(name, i, "id"), _code(name, i), _label(name, i)) for i in _read(name)),
            )
            for name in _OPTION_CATALOGS
        },
        group_sizes=_by_id("group_sizes", map(_group_size, _read("group_sizes"))),
        schedule_slots=slots,
        code_options=code_options,
        code_index={name: _index(name, code_options[name]) for name in CODE_CATALOGS},
    )


def load() -> None:
    """Parse and validate every catalogue now (start-up check); later calls are free."""
    _store()


# ======================================================================================
# Generic access
# ======================================================================================


def entries(catalog: IdCatalog) -> tuple[IdEntry, ...]:
    """Every entry of an id catalogue, in id order."""
    return tuple(_store().id_catalog(catalog).values())


def entry(catalog: IdCatalog, entry_id: int) -> IdEntry | None:
    if isinstance(entry_id, bool):
        return None
    return _store().id_catalog(catalog).get(entry_id)


def ids(catalog: IdCatalog) -> frozenset[int]:
    return frozenset(_store().id_catalog(catalog))


def unknown_ids(catalog: IdCatalog, candidate_ids: Iterable[int]) -> list[int]:
    """The ids not in the catalogue, in input order, each once (empty = all valid).

    Booleans are unknown even though ``True == 1``, because JSON ``true`` is not an id.
    """
    known = _store().id_catalog(catalog)
    out: list[int] = []
    for value in candidate_ids:
        if (isinstance(value, bool) or value not in known) and value not in out:
            out.append(value)
    return out


def valid_ids(catalog: IdCatalog, candidate_ids: Iterable[int]) -> list[int]:
    """Same as :func:`unknown_ids`: returns the UNKNOWN ids (empty = all valid)."""
    return unknown_ids(catalog, candidate_ids)


def code_options(catalog: CodeCatalog, *, listed_only: bool = False) -> tuple[CodeOption, ...]:
    """The entries of a code catalogue in display order. ``listed_only`` drops the entries
    that are accepted on input but not offered."""
    options = _store().code_options[catalog]
    return tuple(o for o in options if o.listed) if listed_only else options


def codes(catalog: CodeCatalog) -> tuple[str, ...]:
    """Every canonical code the catalogue accepts (listed or not), in display order."""
    return tuple(o.code for o in _store().code_options[catalog])


def code_option(catalog: CodeCatalog, raw: str | int | None) -> CodeOption | None:
    """The entry for an input value: the code or an alias, any case, surrounding spaces
    ignored. For ``daily_minutes`` a bare minute value (``10`` or ``"10"``) is accepted."""
    if raw is None or isinstance(raw, bool):
        return None
    key = str(raw).strip().upper()
    return _store().code_index[catalog].get(key)


def normalize_code(catalog: CodeCatalog, raw: str | int | None) -> str | None:
    """The canonical code for an input value, or None when the catalogue does not know it."""
    option = code_option(catalog, raw)
    return option.code if option else None


def is_code(catalog: CodeCatalog, raw: str | int | None) -> bool:
    return code_option(catalog, raw) is not None


def label(item: Labelled, lang: Lang = DEFAULT_LANG) -> str:
    """The display text of any entry in ``lang`` (a location reads "Seoul, South Korea")."""
    return item.label.get(lang)


def normalize_lang(value: str | None) -> Lang:
    """``en``/``en-US``/``EN`` -> ``en``; anything else (including None) -> ``ko``."""
    primary = (value or "").strip().lower().replace("_", "-").split("-", 1)[0]
    return "en" if primary == "en" else DEFAULT_LANG


# ======================================================================================
# Typed accessors
# ======================================================================================


def languages() -> tuple[Language, ...]:
    return tuple(_store().languages.values())


def language(language_id: int) -> Language | None:
    return None if isinstance(language_id, bool) else _store().languages.get(language_id)


def language_by_code(code: str) -> Language | None:
    """By ISO 639-1 code, any case (``"KO"`` -> Korean)."""
    wanted = code.strip().lower()
    return next((lang for lang in _store().languages.values() if lang.code == wanted), None)


def is_language(language_id: int) -> bool:
    return language(language_id) is not None


def language_levels() -> tuple[LevelType, ...]:
    return tuple(_store().language_levels.values())


def partner_levels() -> tuple[LevelType, ...]:
    return tuple(_store().partner_levels.values())


def language_level(level_id: int) -> LevelType | None:
    """A language level (100-106) only."""
    return None if isinstance(level_id, bool) else _store().language_levels.get(level_id)


def partner_level(level_id: int) -> LevelType | None:
    """A desired-partner level (200-203) only."""
    return None if isinstance(level_id, bool) else _store().partner_levels.get(level_id)


def level(level_id: int) -> LevelType | None:
    """Either kind. ObLang3 posts ``currentLevelId: 201`` (a partner level) together with
    ``targetLevelId`` = the partner level, so language-level commands should accept both."""
    return language_level(level_id) or partner_level(level_id)


def is_language_level(level_id: int) -> bool:
    return language_level(level_id) is not None


def is_partner_level(level_id: int) -> bool:
    return partner_level(level_id) is not None


def is_level(level_id: int) -> bool:
    return level(level_id) is not None


def cefr_for_level(level_id: int) -> str | None:
    found = level(level_id)
    return found.cefr if found else None


def locations() -> tuple[Location, ...]:
    return tuple(_store().locations.values())


def location(location_id: int) -> Location | None:
    return None if isinstance(location_id, bool) else _store().locations.get(location_id)


def is_location(location_id: int) -> bool:
    return location(location_id) is not None


def options(catalog: OptionCatalog) -> tuple[Option, ...]:
    """Every entry of a plain option catalogue (motivations, topics, ...), in id order."""
    return tuple(_store().options[catalog].values())


def group_sizes() -> tuple[GroupSize, ...]:
    return tuple(_store().group_sizes.values())


def schedule_slots() -> tuple[ScheduleSlot, ...]:
    return tuple(_store().schedule_slots.values())


def _option(catalog: OptionCatalog, option_id: int) -> Option | None:
    return None if isinstance(option_id, bool) else _store().options[catalog].get(option_id)


def motivation(motivation_id: int) -> Option | None:
    return _option("motivations", motivation_id)


def topic(topic_id: int) -> Option | None:
    return _option("topics", topic_id)


def learning_style(learning_style_id: int) -> Option | None:
    return _option("learning_styles", learning_style_id)


def learning_expectation(learning_expectation_id: int) -> Option | None:
    return _option("learning_expectations", learning_expectation_id)


def partner_personality(partner_personality_id: int) -> Option | None:
    return _option("partner_personalities", partner_personality_id)


def group_size(group_size_id: int) -> GroupSize | None:
    return None if isinstance(group_size_id, bool) else _store().group_sizes.get(group_size_id)


def schedule_slot(slot_id: int) -> ScheduleSlot | None:
    return None if isinstance(slot_id, bool) else _store().schedule_slots.get(slot_id)


def motivation_ids() -> frozenset[int]:
    return ids("motivations")


def topic_ids() -> frozenset[int]:
    return ids("topics")


def learning_style_ids() -> frozenset[int]:
    return ids("learning_styles")


def learning_expectation_ids() -> frozenset[int]:
    return ids("learning_expectations")


def partner_personality_ids() -> frozenset[int]:
    return ids("partner_personalities")


def group_size_ids() -> frozenset[int]:
    return ids("group_sizes")


def daily_minutes(raw: str | int | None) -> int | None:
    """Minutes per day for a daily-minutes input (``"MINUTES_30"``, ``"30"`` or ``30``)."""
    option = code_option("daily_minutes", raw)
    return option.minutes if option else None


def schedule_slot_for(day_of_week: str, class_time: str) -> ScheduleSlot | None:
    """The catalogue slot for a posted ``{dayOfWeek, classTime}``. The SPA sends no
    ``scheduleId``. The part of day is taken from the time: before 13:00 MORNING, before
    19:00 AFTERNOON, else EVENING. A day alias such as ``MON`` is accepted. Returns None
    for an unknown day or a time that is not ``HH:MM[:SS]``."""
    day = normalize_code("days_of_week", day_of_week)
    match = _TIME.match(class_time.strip()) if isinstance(class_time, str) else None
    if day is None or match is None:
        return None
    hour = int(match.group(1))
    part = "MORNING" if hour < 13 else "AFTERNOON" if hour < 19 else "EVENING"
    return next(
        (
            s
            for s in _store().schedule_slots.values()
            if s.day_of_week == day and s.part_of_day == part
        ),
        None,
    )
