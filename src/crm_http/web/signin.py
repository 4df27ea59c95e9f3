"""The login and logout pages of the web app (the API's accounts and password throttle)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from crm_core.errors import TooManyAttempts
from crm_http.auth import client_address
from crm_http.container import Container
from crm_http.web.format import plural
from crm_http.web.session import safe_next, sign_in, sign_out


def signin_routes(blueprint: Blueprint, container: Container) -> None:
    access: Any = container.access

    def page(status: int = 200, **context: Any) -> Response:
        html = render_template("web/login.html", next=request.values.get("next", ""), **context)
        return Response(html, status=status, mimetype="text/html")

    @blueprint.get("/login")
    def login() -> Response:
        return page()

    @blueprint.post("/login")
    def log_in() -> BaseResponse:
        email = request.form.get("email", "").strip()
        password = request.form.get("password", "")
        if not email or not password:
            return page(400, email=email, error="Введите e-mail и пароль.")
        try:
            token = access().log_in(email, password, client_address())
        except TooManyAttempts as refused:
            minutes = max(1, -(-refused.retry_after // 60))
            wait = f"{minutes} {plural(minutes, 'минуту', 'минуты', 'минут')}"
            answer = page(
                429, email=email, error=f"Слишком много неудачных попыток. Повторите через {wait}."
            )
            answer.headers["Retry-After"] = str(refused.retry_after)
            return answer
        if token is None:
            return page(401, email=email, error="Неверный e-mail или пароль.")
        sign_in(token)
        return redirect(safe_next(request.form.get("next")))

    @blueprint.post("/logout")
    def log_out() -> BaseResponse:
        sign_out(access())
        return redirect(url_for("web.login"))
