"""The web app's statistics page and lists, through a signed-in browser session on SQLite.

One small funnel is made through the API with a fixed clock, so that every figure can be
computed by hand:

    stages: Знакомство 1, Встреча 2, Договор 3, Оплачено 4 (final, success); no lost stage,
    so a lost deal stays where it was lost.

    2026-11-10  «Сделка 5» (100) in Знакомство, lost there.
    2026-11-20  «Сделка 1» (1000) in Знакомство ...
    2026-11-24  ... moved to Встреча, Договор, won (4 days to win);
                «Сделка 2» (500) Знакомство -> Встреча, lost there;
                «Сделка 3» (300) in Знакомство, open; «Сделка 4» (200) -> Встреча -> Договор, open;
                «Лид Иванова» (70) open in Знакомство; «Лид Смирновой» (50) converted to a
                deal (50) in Знакомство, open.

    reached: Знакомство 7, Встреча 3 (42,9 %), Договор 2 (66,7 %), Оплачено 1 (50 %);
    won 1 for 1 000 ₽, lost 2 for 600 ₽, open 3 for 550 ₽, win rate 1/3, leads -> deals 1/2.
    Created from 2026-11-20: «Сделка 5» drops out: Знакомство 6, Встреча 3 (50 %), lost 1
    for 500 ₽, win rate 1/2.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import attrs
import pytest
from dependency_injector import providers
from flask import Flask
from flask.testing import FlaskClient

import crm_http.web
from crm_adapters.sql.migrate import upgrade
from crm_core.tenancy import Role
from crm_http.app import create_app
from crm_http.config import Settings
from crm_http.container import Container
from crm_http.web.charts import Bar, bar_chart
from tests.fakes import FixedClock
from tests.integration.web.conftest import PASSWORD, signed_in

NBSP = "\u00a0"
HTMX = {"HX-Request": "true", "HX-Target": "list-results"}


class Tables(HTMLParser):
    """The text of every table cell, row by row, table by table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data.replace(NBSP, " "))


def tables(html: str) -> list[list[list[str]]]:
    parser = Tables()
    parser.feed(html)
    return parser.tables


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert found, name
    return found.group(1).replace(NBSP, " ")


def stage_rows(html: str) -> list[tuple[str, str, str]]:
    """(stage, reached, conversion from the previous) from the page's table of stages."""
    (table,) = [t for t in tables(html) if t and t[0][:2] == ["Стадия", "Дошли"]]
    return [(row[0], row[1], row[2]) for row in table[1:]]


def first_column(html: str) -> list[str]:
    found = tables(html)
    return [row[0] for row in found[0][1:]] if found else []


@attrs.define
class Api:
    client: FlaskClient
    token: str

    def __call__(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = self.client.open(
            path, method=method, json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert answer.status_code in (200, 201), answer.get_json()
        return answer.get_json()


@attrs.define
class World:
    app: Flask
    funnel: dict[str, Any]
    other_funnel_id: str
    foreign_funnel_id: str
    leads: dict[str, str]
    emails: dict[str, str]

    def stage(self, name: str) -> str:
        return next(str(s["id"]) for s in self.funnel["stages"] if s["name"] == name)

    def statistics(self, query: str = "") -> str:
        return f"/app/funnels/{self.funnel['id']}/statistics{query}"


def make_funnel(api: Api, clock: FixedClock) -> tuple[dict[str, Any], dict[str, str]]:
    funnel = api(
        "POST",
        "/api/crm/funnels/",
        {
            "name": "Услуги",
            "stages": [
                {"name": "Знакомство", "order": 1, "color": "#3498db"},
                {"name": "Встреча", "order": 2, "color": "#8e44ad"},
                {"name": "Договор", "order": 3, "color": "#e67e22"},
                {
                    "name": "Оплачено",
                    "order": 4,
                    "color": "#27ae60",
                    "is_final": True,
                    "is_success": True,
                },
            ],
        },
    )
    stage = {s["name"]: s["id"] for s in funnel["stages"]}
    ivanov = api(
        "POST",
        "/api/crm/contacts/",
        {
            "first_name": "Пётр",
            "last_name": "Иванов",
            "phone": "+79991234567",
            "company_name": "ООО Ива",
        },
    )
    smirnova = api(
        "POST",
        "/api/crm/contacts/",
        {"first_name": "Анна", "last_name": "Смирнова", "phone": "+79035550000"},
    )

    def deal(title: str, amount: int) -> str:
        body = {"title": title, "amount": amount, "contact": smirnova["id"], "funnel": funnel["id"]}
        return str(api("POST", "/api/crm/deals/", body)["id"])

    def move(deal_id: str, *names: str) -> None:
        for name in names:
            api("POST", f"/api/crm/deals/{deal_id}/move_to_stage/", {"stage_id": stage[name]})

    d5 = deal("Сделка 5", 100)
    api("POST", f"/api/crm/deals/{d5}/mark_lost/", {"reason": "дорого"})
    clock.current = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    d1 = deal("Сделка 1", 1000)
    clock.current = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    move(d1, "Встреча", "Договор")
    api("POST", f"/api/crm/deals/{d1}/mark_won/")
    d2 = deal("Сделка 2", 500)
    move(d2, "Встреча")
    api("POST", f"/api/crm/deals/{d2}/mark_lost/", {})
    deal("Сделка 3", 300)
    move(deal("Сделка 4", 200), "Встреча", "Договор")
    leads = {}
    for title, contact, value in (("Лид Иванова", ivanov, 70), ("Лид Смирновой", smirnova, 50)):
        body = {
            "title": title,
            "contact": contact["id"],
            "funnel": funnel["id"],
            "estimated_value": value,
        }
        leads[title] = str(api("POST", "/api/crm/leads/", body)["id"])
    api("POST", f"/api/crm/leads/{leads['Лид Смирновой']}/convert_to_deal/")
    return funnel, leads


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'crm.sqlite3'}"
    upgrade(url)
    settings = Settings(
        database_url=url, secret_key="test-secret", var_dir=Path(tmp_path_factory.mktemp("var"))
    )
    container = Container()
    clock = FixedClock(datetime(2026, 11, 10, 10, 0, tzinfo=UTC))
    container.clock.override(providers.Object(clock))
    app = create_app(settings, container)
    app.config["TESTING"] = True
    access = container.access()
    tag = uuid.uuid4().hex[:8]
    emails = {
        "admin": f"admin-{tag}@example.com",
        "manager": f"manager-{tag}@example.com",
        "foreign": f"foreign-{tag}@example.com",
    }
    _, token = access.create_user(f"Ромашка {tag}", emails["admin"], PASSWORD, Role.ADMIN)
    access.create_user(
        f"Ромашка {tag}", emails["manager"], PASSWORD, Role.MANAGER, "Мария Менеджер"
    )
    _, foreign_token = access.create_user(f"Лютик {tag}", emails["foreign"], PASSWORD, Role.ADMIN)
    api = Api(app.test_client(), token)
    funnel, leads = make_funnel(api, clock)
    other = api("POST", "/api/crm/funnels/", {"name": "Пустая"})

    foreign = Api(app.test_client(), foreign_token)
    foreign_funnel = foreign("POST", "/api/crm/funnels/", {"name": "Чужая"})
    petrov = foreign(
        "POST",
        "/api/crm/contacts/",
        {"first_name": "Пётр", "last_name": "Петров", "phone": "+79161112233"},
    )
    foreign(
        "POST",
        "/api/crm/leads/",
        {"title": "Чужой лид", "contact": petrov["id"], "funnel": foreign_funnel["id"]},
    )
    yield World(app, funnel, str(other["id"]), str(foreign_funnel["id"]), leads, emails)
    container.engine().dispose()


@pytest.fixture(scope="module")
def admin(world: World) -> FlaskClient:
    return signed_in(world.app, world.emails["admin"]).client


@pytest.fixture(scope="module")
def manager(world: World) -> FlaskClient:
    return signed_in(world.app, world.emails["manager"]).client


# --- the statistics page ------------------------------------------------------------------


def test_the_statistics_page_draws_the_funnel_and_gives_its_figures(
    admin: FlaskClient, world: World
) -> None:
    answer = admin.get(world.statistics())
    html = answer.get_data(as_text=True)

    assert answer.status_code == 200
    assert stage_rows(html) == [
        ("Знакомство", "7", ""),
        ("Встреча", "3", "42,9 %"),
        ("Договор", "2", "66,7 %"),
        ("Оплачено", "1", "50 %"),
    ]
    assert figure(html, "won") == "1 на 1 000 ₽"
    assert figure(html, "lost") == "2 на 600 ₽"
    assert figure(html, "pipeline") == "3 на 550 ₽"
    assert figure(html, "win_rate") == "33,3 %"
    assert figure(html, "lead_to_deal_rate") == "50 %"
    assert figure(html, "avg_days_to_win") == "4 дня"
    # The charts are SVG images with a name and a description that carries the figures.
    assert html.count('<svg class="chart ') == 4
    assert 'role="img" aria-labelledby="chart-stages-title chart-stages-desc"' in html
    assert f"Встреча: 3, из предыдущей 42,9{NBSP}%" in html
    assert f"Выиграно 1 из 3 закрытых сделок: 33,3{NBSP}%" in html
    assert f'href="/app/funnels/{world.funnel["id"]}/board"' in html


def test_the_period_changes_the_figures(admin: FlaskClient, world: World) -> None:
    html = admin.get(world.statistics("?created_at_after=2026-11-20")).get_data(as_text=True)

    assert stage_rows(html) == [
        ("Знакомство", "6", ""),
        ("Встреча", "3", "50 %"),
        ("Договор", "2", "66,7 %"),
        ("Оплачено", "1", "50 %"),
    ]
    assert figure(html, "lost") == "1 на 500 ₽"
    assert figure(html, "win_rate") == "50 %"
    assert "с 20.11.2026" in html
    assert 'value="2026-11-20"' in html  # the form keeps the period

    before = admin.get(world.statistics("?created_at_before=2026-11-01")).get_data(as_text=True)
    assert [row[1] for row in stage_rows(before)] == ["0", "0", "0", "0"]
    assert figure(before, "won") == "0 на 0 ₽"
    assert figure(before, "win_rate") == "—"


def test_a_bad_period_is_shown_on_the_page(admin: FlaskClient, world: World) -> None:
    answer = admin.get(world.statistics("?created_at_after=вчера"))
    html = answer.get_data(as_text=True)

    assert answer.status_code == 400
    assert 'role="alert"' in html
    assert "Созданы с (created_at_after)" in html
    assert "<svg" not in html


def test_the_switcher_opens_another_funnel_for_the_same_period(
    admin: FlaskClient, world: World
) -> None:
    answer = admin.get(
        world.statistics(f"?funnel={world.other_funnel_id}&created_at_after=2026-11-20&owner=")
    )

    assert answer.status_code == 302
    assert answer.headers["Location"] == (
        f"/app/funnels/{world.other_funnel_id}/statistics?created_at_after=2026-11-20"
    )
    other = admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Статистика: Пустая" in other


def test_another_companys_funnel_is_not_found(admin: FlaskClient, world: World) -> None:
    answer = admin.get(f"/app/funnels/{world.foreign_funnel_id}/statistics")

    assert answer.status_code == 404
    assert "Чужая" not in answer.get_data(as_text=True)


# --- the lists ------------------------------------------------------------------------------


def test_a_lead_is_found_by_its_contacts_phone(admin: FlaskClient, world: World) -> None:
    html = admin.get("/app/leads?search=8 999 123-45-67").get_data(as_text=True)

    assert first_column(html) == ["Лид Иванова"]
    board = f"/app/funnels/{world.funnel['id']}/board?kind=leads#card-{world.leads['Лид Иванова']}"
    assert f'href="{board}"' in html


def test_the_search_box_gets_the_table_alone(admin: FlaskClient, world: World) -> None:
    answer = admin.get("/app/leads?search=Смирнов&funnel=&owner=", headers=HTMX)
    html = answer.get_data(as_text=True)

    assert answer.status_code == 200
    assert "<html" not in html
    assert first_column(html) == ["Лид Смирновой"]
    assert 'id="list-count" hx-swap-oob="innerHTML"' in html
    page = admin.get("/app/leads").get_data(as_text=True)
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    assert 'hx-push-url="true"' in page


def test_deals_filtered_by_stage_and_outcome(admin: FlaskClient, world: World) -> None:
    in_contract = admin.get(f"/app/deals?stage={world.stage('Договор')}").get_data(as_text=True)
    lost = admin.get("/app/deals?is_lost=true&ordering=amount").get_data(as_text=True)

    assert first_column(in_contract) == ["Сделка 4"]
    assert first_column(lost) == ["Сделка 5", "Сделка 2"]
    assert 'aria-sort="ascending"' in lost


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/app/leads?stage=nonsense", "stage"),
        ("/app/deals?is_won=maybe", "is_won"),
        ("/app/contacts?ordering=phone", "ordering"),
    ],
)
def test_a_bad_filter_is_a_400_that_says_why(admin: FlaskClient, path: str, parameter: str) -> None:
    page = admin.get(path)
    fragment = admin.get(path, headers=HTMX)

    for answer in (page, fragment):
        html = answer.get_data(as_text=True)
        assert answer.status_code == 400
        assert f"({parameter}):" in html
        assert 'role="alert"' in html
    assert "<html" not in fragment.get_data(as_text=True)


def test_lists_are_paged(admin: FlaskClient, world: World) -> None:
    first = admin.get("/app/contacts?page_size=1&ordering=last_name").get_data(as_text=True)
    second = admin.get("/app/contacts?page_size=1&ordering=last_name&page=2").get_data(as_text=True)

    assert first_column(first) == ["Иванов Пётр"]
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert "page=2" in first
    assert first_column(second) == ["Смирнова Анна"]
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert admin.get("/app/contacts?page_size=1&page=3").status_code == 404


def test_a_manager_sees_only_their_own_companys_rows(manager: FlaskClient, world: World) -> None:
    contacts = manager.get("/app/contacts").get_data(as_text=True)
    leads = manager.get("/app/leads").get_data(as_text=True)

    assert sorted(first_column(contacts)) == ["Иванов Пётр", "Смирнова Анна"]
    assert "Петров" not in contacts
    assert sorted(first_column(leads)) == ["Лид Иванова", "Лид Смирновой"]
    assert "Чужой лид" not in leads
    assert 'aria-current="page">Лиды<' in leads  # the top bar names the page


def test_chart_text_is_escaped_and_an_empty_chart_says_so() -> None:
    svg = bar_chart(
        "c", "<Стадии>", "a & b", [Bar("<script>alert(1)</script>", 1, "1", "#3498db", "x<y")]
    )
    empty = bar_chart("e", "Стадии", "Стадий нет.", [])

    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "&lt;Стадии&gt;" in svg and "a &amp; b" in svg and "x&lt;y" in svg
    assert "Нет данных" in empty and 'role="img"' in empty


# --- the charts' text against the card it is drawn on -------------------------------------

STATIC = Path(crm_http.web.__file__).parent / "static"
SVG_TEXT = re.compile(r"<(?:text|tspan)\b[^>]*>")


def css_colour(value: str, variables: dict[str, str]) -> str:
    var = re.fullmatch(r"var\((--[\w-]+)\)", value.strip())
    return variables[var.group(1)] if var else value.strip()


def chart_background() -> str:
    """What the charts are drawn on: the statistics card's background, from the CSS."""
    app_css = (STATIC / "app.css").read_text()
    pages_css = (STATIC / "pages.css").read_text()
    variables = dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6})", app_css))
    card = re.search(r"\.stats-card\s*\{([^}]*)\}", pages_css)
    assert card, "pages.css has no .stats-card"
    background = re.search(r"background:\s*([^;]+);", card.group(1))
    assert background, ".stats-card has no background"
    return css_colour(background.group(1), variables)


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_every_text_the_charts_draw_has_at_least_4_5_to_1_against_the_card(
    admin: FlaskClient, world: World
) -> None:
    html = admin.get(world.statistics()).get_data(as_text=True)
    empty = admin.get(f"/app/funnels/{world.other_funnel_id}/statistics").get_data(as_text=True)
    background = chart_background()
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", background), background
    texts = SVG_TEXT.findall(html + empty)
    assert len(texts) > 10

    fills = {}
    for tag in texts:
        fill = re.search(r'fill="([^"]+)"', tag)
        assert fill, f"a chart text without its own colour: {tag}"
        fills[fill.group(1)] = contrast(fill.group(1), background)
    assert all(ratio >= 4.5 for ratio in fills.values()), fills
