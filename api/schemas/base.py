"""The base of every request body."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Body(BaseModel):
    """camelCase on the wire (the SPA's names), snake_case in Python; anything else is a
    422 before any state is touched."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, alias_generator=to_camel)
