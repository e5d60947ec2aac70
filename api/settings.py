"""Settings pages: each section read with its defaults and patched whole, the account
page, and the older combined settings route (spa-contract 4.13)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import (
    CallerDep,
    OriginDep,
    PresenceDep,
    ReadModelsDep,
    UserContext,
    Writes,
    WritesDep,
)
from api.envelope import ok
from api.i18n import UserLang
from api.schemas import profiles as body
from api.views.profiles import own_profile, save, section_values
from commands import profiles as cmd
from commands.base import CommandContext
from domain.profiles import profile_id
from domain.settings import SETTINGS_MODELS
from projections.profiles import get_profile, profiles

router = APIRouter(prefix="/api/v1", tags=["settings"])


def patch_section(
    writes: Writes, ctx: CommandContext, user_id: str, section: Any, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change some of a section's values; answers with all of them once the read model
    shows the change."""
    command = cmd.ChangeSettings(user_id=user_id, section=section, changes=changes)
    outcome = writes.issue(cmd.change_settings, ctx, command, visible_in=profiles,
                           key=profile_id(user_id))  # fmt: skip
    return ok(outcome.result["values"], mirror=True)


def _settings_routes(section: str) -> None:
    def read(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
        return ok(section_values(read_models, caller.user_id, section), mirror=True)

    def write(
        changes: dict[str, Any], caller: CallerDep, ctx: UserContext, writes: WritesDep
    ) -> dict[str, Any]:
        return patch_section(writes, ctx, caller.user_id, section, changes)

    router.add_api_route(
        f"/settings/{section}", read, methods=["GET"], name=f"get_{section}_settings"
    )
    # One route per method: a route with two methods gives both one operationId, which
    # makes the OpenAPI document invalid (operationIds are unique).
    for method in ("PATCH", "PUT"):
        router.add_api_route(
            f"/settings/{section}", write, methods=[method],
            name=f"{method.lower()}_{section}_settings",
        )  # fmt: skip


for _name in SETTINGS_MODELS:
    _settings_routes(_name)


@router.get("/matching/settings", tags=["matching"])
def get_matching_settings(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    return ok(section_values(read_models, caller.user_id, "matching"), mirror=True)


@router.patch("/matching/settings", tags=["matching"])
def patch_matching_settings(
    changes: dict[str, Any], caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    return patch_section(writes, ctx, caller.user_id, "matching", changes)


@router.get("/settings/account")
def get_account_settings(
    caller: CallerDep, read_models: ReadModelsDep, presence: PresenceDep, origin: OriginDep,
    lang: UserLang,
) -> dict[str, Any]:  # fmt: skip
    profile = own_profile(read_models, presence, origin, caller.user_id, lang)
    row = get_profile(read_models, caller.user_id)
    data = {
        "englishName": profile["englishName"],
        "residence": row["location_id"] if row else None,
        "bio": profile["bio"],
        "email": profile["email"],
        "phoneNumber": None,
        "birthDate": profile["birthday"],
        "gender": profile["gender"],
        "profileImage": profile["profileImageUrl"],
    }
    return ok(data, mirror=True)


@router.patch("/settings/account")
def patch_account_settings(
    account: body.AccountSettings, caller: CallerDep, ctx: UserContext, writes: WritesDep
) -> dict[str, Any]:
    command = cmd.UpdateProfile(user_id=caller.user_id, english_name=account.englishName or None,
                                bio=account.bio, location_id=body.location_id(account.residence),
                                gender=account.gender or None)  # fmt: skip
    return save(writes, ctx, cmd.update_profile, command)


@router.get("/users/settings")
def get_user_settings(caller: CallerDep, read_models: ReadModelsDep) -> dict[str, Any]:
    notifications = section_values(read_models, caller.user_id, "notifications")
    return ok(
        {
            "notifications": {
                "email": notifications["emailEnabled"],
                "push": notifications["pushEnabled"],
                "sms": False,
            },
            "privacy": section_values(read_models, caller.user_id, "privacy"),
            "preferences": section_values(read_models, caller.user_id, "language"),
        }
    )


@router.put("/users/settings")
def put_user_settings(
    settings: body.UserSettings, caller: CallerDep, ctx: UserContext, writes: WritesDep,
    read_models: ReadModelsDep,
) -> dict[str, Any]:  # fmt: skip
    if settings.notifications is not None:
        mapped = {
            "emailEnabled": settings.notifications.get("email", False),
            "pushEnabled": settings.notifications.get("push", True),
        }
        patch_section(writes, ctx, caller.user_id, "notifications", mapped)
    if settings.privacy is not None:
        patch_section(writes, ctx, caller.user_id, "privacy", settings.privacy)
    if settings.preferences is not None:
        patch_section(writes, ctx, caller.user_id, "language", settings.preferences)
    return get_user_settings(caller, read_models)
