"""Bearer tokens: who is calling, and which company they act for."""

from __future__ import annotations

from flask import g, request
from werkzeug.exceptions import Unauthorized

from crm_core.services.tenancy import AccessUseCases
from crm_core.tenancy import Actor


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


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
