"""The bare baseline for ``bench/embedded.py``: FastAPI and the ``eventsourcing`` library,
nothing of ours. One route loads one event-sourced aggregate from SQLite, changes it and
saves it; one route answers a fixed JSON object. Run by uvicorn with the same options as
``languagemate serve`` (``bench/embedded.py`` starts it).

    python bench/bare_app.py --port 8100 --db /tmp/bare.sqlite3 --users 32
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from uuid import UUID

import uvicorn
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from fastapi import FastAPI
from pydantic import BaseModel


class Bio(Aggregate):
    def __init__(self, user: int) -> None:
        self.user = user
        self.text = ""

    @event("Written")
    def write(self, text: str) -> None:
        self.text = text


class Bios(Application[UUID]):
    pass


class Body(BaseModel):
    selfBio: str  # noqa: N815 - the SPA's field name, as in the route it stands beside


def build(db: str, users: int) -> FastAPI:
    os.environ.update({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": db,
                       "SQLITE_LOCK_TIMEOUT": "30"})  # fmt: skip
    bios = Bios()
    ids = []
    for user in range(users):
        bio = Bio(user)
        bios.save(bio)
        ids.append(bio.id)
    app = FastAPI()

    @app.post("/users/{user}/bio")
    def write(user: int, body: Body) -> dict[str, Any]:
        bio: Bio = bios.repository.get(ids[user % users])
        bio.write(body.selfBio)
        bios.save(bio)
        return {"success": True, "data": {"version": bio.version}}

    @app.get("/health/live")
    def live() -> dict[str, str]:
        return {"status": "UP"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--users", type=int, default=32)
    args = parser.parse_args()
    uvicorn.run(build(args.db, args.users), host="127.0.0.1", port=args.port, log_config=None,
                access_log=False, ws="websockets-sansio")  # fmt: skip


if __name__ == "__main__":
    main()
