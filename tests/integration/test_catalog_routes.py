"""Reference-list routes over HTTP (spa-contract 4.2 / 4.3): shapes, aliases, languages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import api.catalogs
import api.errors
from api.i18n import parse_accept_language
from domain import reference as ref

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    api.errors.install(app)
    app.include_router(api.catalogs.router)
    return TestClient(app)


def get_list(client: TestClient, path: str, headers: dict[str, str] | None = None) -> Any:
    response = client.get(f"/api/v1{path}", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert "Accept-Language" in response.headers["vary"]
    return response.json()


def enveloped(client: TestClient, path: str, headers: dict[str, str] | None = None) -> Any:
    body = get_list(client, path, headers)
    assert body["success"] is True
    assert set(body) == {"success", "data", "meta"}
    assert "timestamp" in body["meta"]
    assert isinstance(body["data"], list) and body["data"]
    return body["data"]


# (path, catalogue, id field names, label field names) for the id lists.
ID_LISTS: list[tuple[str, ref.IdCatalog, tuple[str, ...], tuple[str, ...]]] = [
    (
        "/onboarding/language/languages",
        "languages",
        ("id", "languageId", "language_id"),
        ("name", "languageName", "language_name"),
    ),
    (
        "/onboarding/language/level-types-language",
        "language_levels",
        ("id", "langLevelId", "lang_level_id"),
        ("name", "langLevelName", "lang_level_name"),
    ),
    (
        "/onboarding/language/level-types-partner",
        "partner_levels",
        ("id", "langLevelId", "lang_level_id"),
        ("name", "langLevelName", "lang_level_name"),
    ),
    (
        "/onboarding/interest/motivations",
        "motivations",
        ("id", "motivationId", "motivation_id"),
        ("name", "motivationName", "motivation_name", "label"),
    ),
    (
        "/onboarding/interest/topics",
        "topics",
        ("id", "topicId", "topic_id"),
        ("name", "topicName", "topic_name", "label"),
    ),
    (
        "/onboarding/interest/learning-styles",
        "learning_styles",
        ("id", "learningStyleId", "learning_style_id"),
        ("name", "learningStyleName", "learning_style_name", "label"),
    ),
    (
        "/onboarding/interest/learning-expectations",
        "learning_expectations",
        ("id", "learningExpectationId", "learning_expectation_id"),
        ("name", "learningExpectationName", "learning_expectation_name", "label"),
    ),
    (
        "/onboarding/partner/personalities",
        "partner_personalities",
        ("id", "partnerPersonalityId", "partner_personality_id"),
        ("name", "partnerPersonality", "partner_personality", "description", "label"),
    ),
    (
        "/onboarding/schedule/group-sizes",
        "group_sizes",
        ("id", "groupSizeId", "group_size_id"),
        ("name", "groupSize", "group_size", "label"),
    ),
    (
        "/users/locations",
        "locations",
        ("id", "locationId"),
        ("name", "label"),
    ),
]
ID_LIST_PARAMS = [pytest.param(*row, id=row[0]) for row in ID_LISTS]


@pytest.mark.parametrize(("path", "catalog", "id_keys", "name_keys"), ID_LIST_PARAMS)
def test_id_lists_carry_every_id_and_label_alias_in_korean_by_default(
    client: TestClient,
    path: str,
    catalog: ref.IdCatalog,
    id_keys: tuple[str, ...],
    name_keys: tuple[str, ...],
) -> None:
    items = enveloped(client, path)

    assert [item["id"] for item in items] == [e.id for e in ref.entries(catalog)]
    for item, entry in zip(items, ref.entries(catalog), strict=True):
        assert {item[k] for k in id_keys} == {entry.id}
        assert {item[k] for k in name_keys} == {ref.label(entry, "ko")}
        assert isinstance(item["id"], int)


@pytest.mark.parametrize(("path", "catalog", "id_keys", "name_keys"), ID_LIST_PARAMS)
def test_id_lists_switch_to_english_when_the_caller_prefers_it(
    client: TestClient,
    path: str,
    catalog: ref.IdCatalog,
    id_keys: tuple[str, ...],
    name_keys: tuple[str, ...],
) -> None:
    items = enveloped(client, path, ENGLISH)

    for item, entry in zip(items, ref.entries(catalog), strict=True):
        assert {item[k] for k in name_keys} == {ref.label(entry, "en")}
        assert item[id_keys[1]] == entry.id


def test_languages_carry_their_iso_code(client: TestClient) -> None:
    items = enveloped(client, "/onboarding/language/languages")
    korean = next(i for i in items if i["code"] == "ko")

    assert korean["languageCode"] == korean["language_code"] == "ko"
    assert korean["name"] == "한국어"
    assert korean["nativeName"] == "한국어"
    assert {"ko", "en", "ja", "zh", "es", "fr", "de", "vi"} <= {i["code"] for i in items}


def test_level_types_use_the_original_id_bands(client: TestClient) -> None:
    language = enveloped(client, "/onboarding/language/level-types-language")
    partner = enveloped(client, "/onboarding/language/level-types-partner")

    assert [i["id"] for i in language] == list(range(100, 107))
    assert [i["id"] for i in partner] == list(range(200, 204))
    assert language[0]["name"] == "간단한 일상 대화를 할 수 있어요"
    assert (language[0]["cefr"], language[0]["category"]) == ("A1", "LANGUAGE")
    assert partner[0]["category"] == "PARTNER"


def test_locations_carry_city_country_and_timezone_aliases(client: TestClient) -> None:
    items = enveloped(client, "/users/locations", ENGLISH)
    seoul = next(i for i in items if i["locationId"] == 1)

    assert seoul["city"] == "Seoul"
    assert seoul["country"] == "South Korea"
    assert seoul["timezone"] == seoul["timeZone"] == "Asia/Seoul"
    assert seoul["countryCode"] == "KR"
    korean = enveloped(client, "/users/locations")
    assert next(i for i in korean if i["id"] == 1)["city"] == "서울"


# (path, catalogue, name pattern from the contract, codes the contract names)
CODE_LISTS: list[tuple[str, ref.CodeCatalog, str, set[str]]] = [
    (
        "/onboarding/partner/gender-type",
        "partner_gender_types",
        r"^[A-Z_]+$",
        {"MALE", "FEMALE", "ANY"},
    ),
    (
        "/onboarding/schedule/communication-methods",
        "communication_methods",
        r"^[A-Z_]+$",
        {"TEXT", "VOICE", "VIDEO", "HYBRID"},
    ),
    ("/onboarding/schedule/daily-methods", "daily_minutes", r"^[A-Z0-9_]+$", {"MINUTES_10"}),
]


@pytest.mark.parametrize(
    ("path", "catalog", "pattern", "required"),
    [pytest.param(*row, id=row[0]) for row in CODE_LISTS],
)
def test_code_lists_post_name_and_show_description(
    client: TestClient, path: str, catalog: ref.CodeCatalog, pattern: str, required: set[str]
) -> None:
    items = enveloped(client, path)
    english = enveloped(client, path, ENGLISH)
    options = ref.code_options(catalog, listed_only=True)

    assert [i["name"] for i in items] == [o.code for o in options]
    assert required <= {i["name"] for i in items}
    for item, en_item, option in zip(items, english, options, strict=True):
        assert re.match(pattern, item["name"])
        assert item["code"] == item["id"] == item["name"]
        assert item["description"] == item["label"] == item["displayName"] == option.label.ko
        assert en_item["description"] == option.label.en
        assert en_item["name"] == item["name"]


def test_partner_gender_type_offers_male_female_any_only(client: TestClient) -> None:
    items = enveloped(client, "/onboarding/partner/gender-type")

    assert [(i["name"], i["description"]) for i in items] == [
        ("MALE", "남성"),
        ("FEMALE", "여성"),
        ("ANY", "상관없음"),
    ]


def test_daily_methods_carry_minutes_and_communication_methods_their_numeric_id(
    client: TestClient,
) -> None:
    daily = enveloped(client, "/onboarding/schedule/daily-methods")
    methods = enveloped(client, "/onboarding/schedule/communication-methods")

    assert all(i["minutes"] == int(i["name"].removeprefix("MINUTES_")) for i in daily)
    assert [i["communicationMethodId"] for i in methods] == [1, 2, 3, 4]
    assert methods[0]["detail"] == "채팅을 위주로 학습합니다."


def test_user_gender_type_is_a_bare_array_of_name_and_description(client: TestClient) -> None:
    body = get_list(client, "/users/gender-type")

    assert isinstance(body, list)
    assert [i["name"] for i in body] == list(ref.codes("user_gender_types"))
    assert {"MALE", "FEMALE", "OTHER"} <= {i["name"] for i in body}
    assert body[0]["description"] == "남성"
    english = get_list(client, "/users/gender-type", ENGLISH)
    assert english[0]["description"] == "Male"


def test_catalogues_need_no_token_and_ignore_a_bad_one(client: TestClient) -> None:
    response = client.get(
        "/api/v1/onboarding/interest/topics", headers={"Authorization": "Bearer nonsense"}
    )

    assert response.status_code == 200


def test_an_unknown_catalogue_is_an_enveloped_404(client: TestClient) -> None:
    response = client.get("/api/v1/onboarding/interest/hobbies")

    assert response.status_code == 404
    assert response.json()["success"] is False


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "ko"),
        ("", "ko"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
        ("fr-FR,fr;q=0.9,en;q=0.8", "en"),
        ("fr-FR,de;q=0.5", "ko"),
        ("ko;q=0.4,en;q=0.6", "en"),
        ("en;q=0,ko", "ko"),
        ("*", "ko"),
        ("en-GB;q=abc,ko;q=0.1", "ko"),
        ("EN_us", "en"),
    ],
)
def test_accept_language_picks_the_preferred_supported_language(
    header: str | None, expected: str
) -> None:
    assert parse_accept_language(header) == expected
