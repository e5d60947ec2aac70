"""What the SPA posts to join a call room (contract 4.9): its own user id and display name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from domain.rooms import ROOM_ID


class Join(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    user_id: str = Field(min_length=1, max_length=64, pattern=ROOM_ID.pattern, alias="userId")
    user_name: str = Field(default="Anonymous", max_length=100, alias="userName")
