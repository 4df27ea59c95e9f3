"""Bearer tokens: who is calling, and which company they act for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request
from werkzeug.exceptions import Unauthorized

from crm_core.services.tenancy import AccessUseCases
from crm_core.tenancy import Actor

F = TypeVar("F", bound=Callable[..., Any])


def public(view: F) -> F:
    """Marks a view that answers without a bearer token (put it next to the function, under
    `blp.doc(security=[])`, which says the same in the OpenAPI document)."""
    view.public = True  # type: ignore[attr-defined]
    return view


def is_public(view: Callable[..., Any] | None) -> bool:
    return bool(getattr(view, "public", False))


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def client_address() -> str | None:
    """Where the request came from, as the WSGI server saw it: the login throttle counts
    failures per address. (Behind a reverse proxy this is the proxy's address.)"""
    return request.remote_addr


def authenticate(access: AccessUseCases) -> Actor:
    token = bearer_token()
    actor = access.authenticate(token) if token else None
    if actor is None:
        raise Unauthorized(
            "Authentication credentials were not provided or are not valid.",
        )
    g.actor = actor
    return actor


def current_actor() -> Actor:
    actor: Actor = g.actor
    return actor
