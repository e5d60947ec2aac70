"""Account ids from e-mail addresses and the dev-login request (no store needed)."""

from __future__ import annotations

from uuid import UUID

import pytest
from pydantic import ValidationError

from commands.identity import DevLogin, account_id_for

PEPPER = "pepper-" + "p" * 32


@pytest.mark.parametrize(
    "spelling",
    ["minji@example.com", "Minji@Example.COM", "  minji@example.com\n", "\tMINJI@EXAMPLE.COM "],
)
def test_same_address_in_any_case_or_padding_gives_the_same_account(spelling: str) -> None:
    assert account_id_for(PEPPER, spelling) == account_id_for(PEPPER, "minji@example.com")


def test_different_addresses_give_different_accounts() -> None:
    assert account_id_for(PEPPER, "minji@example.com") != account_id_for(
        PEPPER, "minjun@example.com"
    )


def test_a_different_pepper_gives_a_different_account_id() -> None:
    assert account_id_for(PEPPER, "minji@example.com") != account_id_for(
        "another-" + "q" * 32, "minji@example.com"
    )


def test_account_id_is_a_stable_uuid() -> None:
    account_id = account_id_for(PEPPER, "minji@example.com")

    assert isinstance(account_id, UUID)
    assert account_id == account_id_for(PEPPER, "minji@example.com")
    assert "minji" not in str(account_id)


def test_dev_login_normalises_the_address_and_trims_the_name() -> None:
    command = DevLogin(email="  Minji@Example.COM ", name="  김민지  ")

    assert command.email == "minji@example.com"
    assert command.name == "김민지"


def test_dev_login_address_maps_to_the_same_account_as_its_raw_spelling() -> None:
    command = DevLogin(email="Minji@Example.COM", name="Minji")

    assert account_id_for(PEPPER, command.email) == account_id_for(PEPPER, " MINJI@example.com")


@pytest.mark.parametrize(
    "email",
    [
        "minji",
        "minji@example",
        "@example.com",
        "minji@@example.com",
        "min ji@example.com",
        "<minji>@example.com",
        "minji?@example.com",
        "minji~@example.com",
        "",
    ],
)
def test_dev_login_refuses_a_malformed_address(email: str) -> None:
    with pytest.raises(ValidationError, match="email"):
        DevLogin(email=email, name="Minji")


def test_dev_login_refuses_an_address_longer_than_320_characters() -> None:
    with pytest.raises(ValidationError, match="email"):
        DevLogin(email="a" * 310 + "@example.com", name="Minji")


@pytest.mark.parametrize("name", ["", "   ", "가" * 101])
def test_dev_login_refuses_an_empty_or_overlong_name(name: str) -> None:
    with pytest.raises(ValidationError, match="name"):
        DevLogin(email="minji@example.com", name=name)


def test_dev_login_accepts_a_name_of_100_characters() -> None:
    assert DevLogin(email="minji@example.com", name="가" * 100).name == "가" * 100


def test_dev_login_refuses_unexpected_fields() -> None:
    with pytest.raises(ValidationError, match="role"):
        DevLogin.model_validate({"email": "minji@example.com", "name": "Minji", "role": "admin"})
