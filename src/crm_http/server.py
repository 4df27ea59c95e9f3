"""`crm serve`: the API under gunicorn, threaded so that slow requests do not block others."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from crm_http.app import create_app
from crm_http.config import Settings


class CrmServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        # Each worker builds its own app, engine and pool after the fork.
        return create_app(self.settings)


def serve(settings: Settings, host: str, port: int, *, workers: int, threads: int) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,  # the app writes its own structured request log
        "loglevel": settings.log_level.lower(),
    }
    CrmServer(settings, options).run()
