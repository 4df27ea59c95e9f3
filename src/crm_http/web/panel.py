"""The card's side panel: its details, timeline and chat, and what can be done from there."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, render_template

from crm_core.ports import BoardKind, ReadModel, Resource
from crm_http.auth import current_actor
from crm_http.container import Container


def panel_routes(blueprint: Blueprint, container: Container) -> None:
    read_model: Any = container.read_model

    @blueprint.get("/<any(leads, deals):kind_name>/<uuid:item_id>")
    def panel(kind_name: str, item_id: uuid.UUID) -> str:
        actor, kind = current_actor(), BoardKind(kind_name)
        model: ReadModel = read_model()
        resource = Resource.DEALS if kind is BoardKind.DEALS else Resource.LEADS
        item = model.detail(resource, actor.company_id, item_id)
        return render_template("web/_panel.html", item=item, kind=kind)
