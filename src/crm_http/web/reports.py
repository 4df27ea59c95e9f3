"""The statistics page of a funnel (SVG drawn on the server) and the lists of contacts, leads
and deals."""

from __future__ import annotations

from flask import Blueprint

from crm_http.container import Container


def reports_routes(blueprint: Blueprint, container: Container) -> None:
    del blueprint, container
