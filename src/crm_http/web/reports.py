"""The statistics page of a funnel (SVG drawn on the server) and the lists of contacts, leads
and deals, with the API's search, filters, ordering and pages."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from flask import Blueprint, Response, redirect, render_template, request, url_for
from markupsafe import Markup
from marshmallow import fields
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from crm_core.lead import LeadStatus
from crm_core.listing import LISTINGS
from crm_core.ports import ListQuery, ReadModel, Resource, Row, StatisticsFilter
from crm_core.values import CompanyId, FunnelId
from crm_http.auth import current_actor
from crm_http.container import Container
from crm_http.listing import MAX_PAGE_SIZE, list_args, list_query
from crm_http.views.funnels import StatisticsArgs
from crm_http.web.charts import SUCCESS, Bar, bar_chart, percent, ring
from crm_http.web.format import NBSP, days_text, plural, rubles
from crm_http.web.refusals import query_refusals

# The table a list's search box re-renders: htmx asks for it alone (HX-Target).
RESULTS_ID = "list-results"
ACCENT, DANGER = "#0b5cad", "#b42318"
STATUS_NAMES = {
    LeadStatus.OPEN: "Открыт",
    LeadStatus.CONVERTED: "Сделка",
    LeadStatus.LOST: "Провален",
}


@attrs.frozen
class ListPage:
    """One list of the web app: what it lists, under which endpoint, and what its form offers."""

    resource: Resource
    endpoint: str
    title: str
    template: str
    count_forms: tuple[str, str, str]  # 1 контакт, 2 контакта, 5 контактов
    choices: frozenset[str]  # "owners", "funnels", "stages"
    search_hint: str

    @property
    def default_ordering(self) -> str:
        field, downwards = LISTINGS[self.resource].default_ordering[0]
        return f"-{field}" if downwards else field


LIST_PAGES = (
    ListPage(
        Resource.CONTACTS,
        "contacts",
        "Контакты",
        "web/list_contacts.html",
        ("контакт", "контакта", "контактов"),
        frozenset({"owners"}),
        "Имя, фамилия, отчество, телефон, e-mail или компания",
    ),
    ListPage(
        Resource.LEADS,
        "leads",
        "Лиды",
        "web/list_leads.html",
        ("лид", "лида", "лидов"),
        frozenset({"owners", "funnels", "stages"}),
        "Название, описание, имя или телефон контакта",
    ),
    ListPage(
        Resource.DEALS,
        "deals",
        "Сделки",
        "web/list_deals.html",
        ("сделка", "сделки", "сделок"),
        frozenset({"owners", "funnels", "stages"}),
        "Название, описание, имя или телефон контакта",
    ),
)


class StatisticsPageArgs(StatisticsArgs):
    """The API's statistics filters, and `funnel` from the page's switcher."""

    funnel = fields.UUID()


def _given() -> dict[str, str]:
    """The query string without the empty values a GET form sends for fields left blank."""
    return {name: value for name, value in request.args.items() if value.strip()}


def _results_only() -> bool:
    """A request of the search box's script, which re-renders the table alone (not a restore
    of the browser history, which wants the whole page)."""
    return (
        request.headers.get("HX-Target") == RESULTS_ID
        and "HX-History-Restore-Request" not in request.headers
    )


def _html(html: str, status: int = 200) -> Response:
    answer = Response(html, status=status, mimetype="text/html")
    answer.headers["Vary"] = "HX-Request, HX-Target"
    return answer


def days_figure(days: float | None) -> str:
    """Mean days as the page writes them: `4 дня`, `12,5 дня`; `—` when there are none."""
    if days is None:
        return "—"
    if days == int(days):
        return days_text(int(days))
    return f"{days:.1f}".replace(".", ",") + f"{NBSP}дня"


def _ordering(given: Mapping[str, str], default: str) -> tuple[str, bool]:
    """The column a list is ordered by first, and whether downwards."""
    first = (given.get("ordering") or default).split(",")[0].strip()
    return first.removeprefix("-"), first.startswith("-")


def statistics_charts(stats: Row) -> dict[str, Markup]:
    """The funnel's figures as images: the stages reached, the amounts, and two rates."""
    stages = stats["stages_statistics"]
    stage_bars = [
        Bar(
            label=stage["stage_name"],
            value=stage["reached_count"],
            figure=str(stage["reached_count"]),
            color=stage["color"],
            note=""
            if index == 0
            else f"из предыдущей {percent(stage['conversion_from_previous'])}",
            detail=f"открыто сейчас: {stage['open_count']} на {rubles(stage['open_amount'])}",
        )
        for index, stage in enumerate(stages)
    ]
    reached = "; ".join(
        f"{bar.label}: {bar.figure}" + (f", {bar.note}" if bar.note else "") for bar in stage_bars
    )
    amounts = [
        Bar(
            "Выиграно",
            float(stats["won_amount"]),
            rubles(stats["won_amount"]),
            SUCCESS,
            _deals(stats["won_deals"]),
        ),
        Bar(
            "Проиграно",
            float(stats["lost_amount"]),
            rubles(stats["lost_amount"]),
            DANGER,
            _deals(stats["lost_deals"]),
        ),
        Bar(
            "В работе",
            float(stats["pipeline_amount"]),
            rubles(stats["pipeline_amount"]),
            ACCENT,
            _deals(stats["open_deals"]),
        ),
    ]
    closed, leads = stats["won_deals"] + stats["lost_deals"], stats["leads_count"]
    return {
        "stages": bar_chart(
            "chart-stages",
            "Сколько дошло до каждой стадии",
            f"Лиды и сделки, дошедшие до стадии или дальше. {reached}."
            if stages
            else "Стадий нет.",
            stage_bars,
        ),
        "amounts": bar_chart(
            "chart-amounts",
            "Суммы сделок",
            "; ".join(f"{bar.label}: {bar.figure} ({bar.note})" for bar in amounts) + ".",
            amounts,
        ),
        "win_rate": ring(
            "chart-win-rate",
            "Доля выигранных сделок",
            f"Выиграно {stats['won_deals']} из {closed} "
            f"{plural(closed, 'закрытой сделки', 'закрытых сделок', 'закрытых сделок')}: "
            f"{percent(stats['win_rate'])}.",
            stats["win_rate"],
        ),
        "lead_to_deal": ring(
            "chart-lead-to-deal",
            "Лиды, ставшие сделками",
            f"Из {leads} {plural(leads, 'лида', 'лидов', 'лидов')} сделками стали "
            f"{percent(stats['lead_to_deal_rate'])}.",
            stats["lead_to_deal_rate"],
        ),
    }


def _deals(count: int) -> str:
    return f"{count}{NBSP}{plural(count, 'сделка', 'сделки', 'сделок')}"


def reports_routes(blueprint: Blueprint, container: Container) -> None:
    read_model: Any = container.read_model
    blueprint.add_app_template_filter(percent, "percent")
    blueprint.add_app_template_filter(days_figure, "days_figure")

    def model() -> ReadModel:
        found: ReadModel = read_model()
        return found

    def everything(resource: Resource, company_id: CompanyId, **query: Any) -> Sequence[Row]:
        """The rows a form's select offers (the API's largest page)."""
        return model().list(resource, company_id, ListQuery(page_size=MAX_PAGE_SIZE, **query)).rows

    def owners(company_id: CompanyId) -> Sequence[Row]:
        return everything(Resource.USERS, company_id, ordering=(("full_name", False),))

    def funnels(company_id: CompanyId) -> Sequence[Row]:
        return everything(Resource.FUNNELS, company_id, ordering=(("name", False),))

    def stages_by_funnel(
        company_id: CompanyId, funnel_rows: Sequence[Row]
    ) -> list[tuple[Row, list[Row]]]:
        stages = everything(Resource.STAGES, company_id)
        return [
            (funnel, [stage for stage in stages if stage["funnel"] == funnel["id"]])
            for funnel in funnel_rows
        ]

    @blueprint.get("/funnels/<uuid:funnel_id>/statistics")
    def statistics(funnel_id: uuid.UUID) -> BaseResponse:
        """The funnel's figures for a period (created after / before) and an owner."""
        actor = current_actor()
        funnel = model().detail(Resource.FUNNELS, actor.company_id, funnel_id)
        given = _given()
        schema = StatisticsPageArgs()
        errors = query_refusals(schema, given)
        stats = charts = period = None
        if not errors:
            args = schema.load(given)
            if "funnel" in args:  # the switcher: the other funnel, for the same period
                rest: dict[str, Any] = {k: v for k, v in given.items() if k != "funnel"}
                return redirect(url_for("web.statistics", funnel_id=args["funnel"], **rest))
            period = StatisticsFilter(
                created_after=args.get("created_at_after"),
                created_before=args.get("created_at_before"),
                owner_id=args.get("owner"),
            )
            stats = model().funnel_statistics(actor.company_id, FunnelId(funnel_id), period)
            charts = statistics_charts(stats)
        html = render_template(
            "web/statistics.html",
            funnel=funnel,
            funnels=funnels(actor.company_id),
            owners=owners(actor.company_id),
            values=given,
            errors=errors,
            period=period,
            stats=stats,
            charts=charts,
        )
        return _html(html, 400 if errors else 200)

    def show_list(page: ListPage) -> Response:
        actor = current_actor()
        given = _given()
        schema = list_args(page.resource)()
        errors = query_refusals(schema, given)
        rows: Sequence[Row] = ()
        count = pages = 0
        query = ListQuery()
        if not errors:
            query = list_query(schema.load(given))
            found = model().list(page.resource, actor.company_id, query)
            if query.page > 1 and query.offset >= found.count:
                raise NotFound("Такой страницы нет: список короче.")
            rows, count = found.rows, found.count
            pages = max(1, -(-count // query.page_size))
        endpoint = f"web.{page.endpoint}"

        def link(**changes: Any) -> str:
            params: dict[str, Any] = {**given, **changes}
            return url_for(endpoint, **{k: v for k, v in params.items() if v is not None})

        def sort_link(field: str) -> str:
            by, downwards = _ordering(given, page.default_ordering)
            wanted = f"-{field}" if by == field and not downwards else field
            return link(ordering=wanted, page=None)

        summary = (
            "Список не показан: в фильтре ошибка."
            if errors
            else f"Найдено: {count}{NBSP}{plural(count, *page.count_forms)}"
        )
        if pages > 1:
            summary += f" · страница {query.page} из {pages}"
        context: dict[str, Any] = {
            "page": page,
            "summary": summary,
            "endpoint": endpoint,
            "results_id": RESULTS_ID,
            "values": given,
            "errors": errors,
            "rows": rows,
            "count": count,
            "page_number": query.page,
            "pages": pages,
            "previous_url": link(page=query.page - 1) if query.page > 1 and not errors else None,
            "next_url": link(page=query.page + 1) if query.page < pages and not errors else None,
            "ordered_by": _ordering(given, page.default_ordering),
            "sort_link": sort_link,
            "status_names": STATUS_NAMES,
        }
        if _results_only():
            html = render_template("web/_list_results.html", out_of_band=True, **context)
            return _html(html, 400 if errors else 200)
        if "owners" in page.choices:
            context["owners"] = owners(actor.company_id)
        if "funnels" in page.choices:
            context["funnels"] = funnels(actor.company_id)
        if "stages" in page.choices:
            context["stage_groups"] = stages_by_funnel(actor.company_id, context["funnels"])
        return _html(render_template(page.template, **context), 400 if errors else 200)

    for listed in LIST_PAGES:
        blueprint.add_url_rule(
            f"/{listed.endpoint}",
            endpoint=listed.endpoint,
            view_func=lambda listed=listed: show_list(listed),
            methods=["GET"],
        )


__all__ = ["LIST_PAGES", "days_figure", "reports_routes", "statistics_charts"]
