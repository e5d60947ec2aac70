"""The OpenAPI document says which error answers a route can give and what they look like.

FastAPI documents only 200 and its own 422 body, but every route answers refusals with the
error envelope (``api/envelope.py``): 401 where a token is needed, and 400/403/404/409/
422/429 through the one error mapping in ``api/errors.py``, which any command can reach,
and 503 while a dependency does not answer or the process sheds load.
Documenting them lets clients and contract tests (schemathesis) hold the server to them;
routes with answers of their own (202, 413, 503) declare those where they are defined.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from api.blank_params import BLANK_MEANS_ABSENT
from api.deps import bearer_token, optional_caller

GENERIC_ERRORS = {
    400: "The request breaks a rule of the domain",
    403: "Not allowed for this user",
    404: "No such resource (or not visible to this user)",
    409: "Conflicts with the current state",
    422: "Invalid input",
    429: "Too many requests; see Retry-After",
}
ENVELOPE_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
UNAVAILABLE_DESCRIPTION = (
    "A dependency is briefly unavailable (SERVICE_UNAVAILABLE), or the server sheds load"
    " (OVERLOADED); retry after Retry-After"
)


class ErrorDetail(BaseModel):
    message: str
    code: str
    details: Any = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    """``{success:false, message, code, error:{message, code, details}, meta}``."""

    success: bool
    message: str
    code: str
    error: ErrorDetail
    meta: dict[str, Any]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route or router whose refusals come in the error envelope."""
    return {status: {"description": "Refused", "model": ErrorEnvelope} for status in statuses}


def _needs_token(dependant: Dependant) -> bool:
    """Whether the route reads a token (an optional one still refuses a bad token)."""
    return any(
        d.call in (bearer_token, optional_caller) or _needs_token(d) for d in dependant.dependencies
    )


def _document_errors(app: FastAPI, document: dict[str, Any]) -> None:
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(envelope.pop("$defs", {}))
    schemas["ErrorEnvelope"] = envelope
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        statuses = dict(GENERIC_ERRORS)
        if _needs_token(route.dependant):
            statuses[401] = "No valid access token"
        operations = document["paths"].get(context.path_format, {})
        for method in context.methods or ():
            operation = operations.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in statuses.items():
                responses[str(status)] = {
                    "description": description,
                    "content": {"application/json": {"schema": ENVELOPE_REF}},
                }
            # Any route answers 503 while PostgreSQL or Redis does not (api/errors.py) or
            # its process is past its bound (api/admission.py);
            # routes that say more about their own 503 keep their description.
            responses.setdefault(
                "503",
                {
                    "description": UNAVAILABLE_DESCRIPTION,
                    "content": {"application/json": {"schema": ENVELOPE_REF}},
                },
            )


def _document_blank_params(document: dict[str, Any]) -> None:
    """Every optional query parameter says that ``name=`` counts as absent
    (``api/blank_params.py`` applies that to every route before routing)."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and not parameter.get("required"):
                    told = parameter.get("description", "")
                    parameter["description"] = f"{told} {BLANK_MEANS_ABSENT}".strip()


def install(app: FastAPI) -> None:
    """Serve the document with the error answers and the empty-parameter rule added
    (built once, on first request)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            _document_errors(app, document)
            _document_blank_params(document)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
