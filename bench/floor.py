"""The floor the product is measured beside: bare Flask, psycopg 3 and hand-written SQL giving the
product's JSON for the endpoints `bench.compare` drives (nothing of crm_* is imported)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import uuid
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import psycopg
from flask import Flask, Response, request
from psycopg.rows import dict_row

Row = dict[str, Any]
CENT = Decimal("0.01")
MAX_PAGE_SIZE = 500
MAX_MONEY = Decimal("9999999999.99")  # twelve digits, two after the point

AUTHENTICATE = """
SELECT u.id, u.company_id, u.full_name, u.email
FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.is_active
"""

LEAD_COLUMNS = """
l.id, l.created_at, l.updated_at, l.company_id AS company, l.contact_id AS contact,
concat_ws(' ', nullif(c.last_name, ''), nullif(c.first_name, ''), nullif(c.middle_name, ''))
  AS contact_name,
l.funnel_id AS funnel, f.name AS funnel_name, l.stage_id AS stage, s.name AS stage_name,
l.owner_id AS owner, coalesce(nullif(o.full_name, ''), o.email) AS owner_name,
l.title, l.description, l.probability, l.stage_changed_at, l.closed_at, l.estimated_value,
l.source, l.status, l.deal_id AS deal, l.lost_reason
"""
LEAD_SOURCE = """
leads l JOIN contacts c ON c.id = l.contact_id JOIN funnels f ON f.id = l.funnel_id
JOIN stages s ON s.id = l.stage_id LEFT JOIN users o ON o.id = l.owner_id
"""
NEWEST_FIRST = "ORDER BY {t}.created_at DESC NULLS FIRST, {t}.id DESC LIMIT %s OFFSET %s"

CONTACT_COLUMNS = """
c.id, c.created_at, c.updated_at, c.company_id AS company, c.branch_id AS branch,
b.name AS branch_name, c.owner_id AS owner,
coalesce(nullif(o.full_name, ''), o.email) AS owner_name,
c.first_name, c.last_name, c.middle_name,
concat_ws(' ', nullif(c.last_name, ''), nullif(c.first_name, ''), nullif(c.middle_name, ''))
  AS full_name,
c.phone, c.phone_secondary, c.email, c.whatsapp, c.instagram, c.telegram, c.telegram_chat_id,
c.company_name, c.position, c.address, c.notes, c.tags, c.source, c.is_active, c.is_client
"""
CONTACT_SOURCE = """
contacts c LEFT JOIN branches b ON b.id = c.branch_id LEFT JOIN users o ON o.id = c.owner_id
"""

# Each stage of the funnel with what stands in it now; no row at all: no such funnel here.
STAGE_FIGURES = """
SELECT f.name AS funnel_name, s.id, s.name, s."order", s.color, s.is_final, s.is_success,
       coalesce(l.n, 0) AS leads, coalesce(l.value, 0) AS leads_value,
       coalesce(l.converted, 0) AS converted, coalesce(l.open, 0) AS open_leads,
       coalesce(l.open_value, 0) AS open_leads_value,
       coalesce(d.n, 0) AS deals, coalesce(d.amount, 0) AS deals_amount,
       coalesce(d.open, 0) AS open_deals, coalesce(d.won, 0) AS won, coalesce(d.lost, 0) AS lost,
       coalesce(d.won_amount, 0) AS won_amount, coalesce(d.lost_amount, 0) AS lost_amount,
       coalesce(d.pipeline, 0) AS pipeline, coalesce(d.weighted, 0) AS weighted,
       d.days_to_win
FROM funnels f
LEFT JOIN stages s ON s.funnel_id = f.id
LEFT JOIN (
  SELECT stage_id, count(*) AS n, sum(estimated_value) AS value,
         count(*) FILTER (WHERE status = 'converted') AS converted,
         count(*) FILTER (WHERE status = 'open') AS open,
         sum(estimated_value) FILTER (WHERE status = 'open') AS open_value
  FROM leads WHERE company_id = %(company)s AND funnel_id = %(funnel)s GROUP BY stage_id
) l ON l.stage_id = s.id
LEFT JOIN (
  SELECT stage_id, count(*) AS n, sum(amount) AS amount,
         count(*) FILTER (WHERE NOT (is_won OR is_lost)) AS open,
         count(*) FILTER (WHERE is_won) AS won, count(*) FILTER (WHERE is_lost) AS lost,
         sum(amount) FILTER (WHERE is_won) AS won_amount,
         sum(amount) FILTER (WHERE is_lost) AS lost_amount,
         sum(amount) FILTER (WHERE NOT (is_won OR is_lost)) AS pipeline,
         sum(amount * probability) FILTER (WHERE NOT (is_won OR is_lost)) AS weighted,
         sum(extract(epoch FROM closed_at - created_at) / 86400.0) FILTER (WHERE is_won)
           AS days_to_win
  FROM deals WHERE company_id = %(company)s AND funnel_id = %(funnel)s GROUP BY stage_id
) d ON d.stage_id = s.id
WHERE f.id = %(funnel)s AND f.company_id = %(company)s
ORDER BY s."order"
"""

# From the stage history: how many opportunities (a lead, a deal, or a lead with the deal it
# became) got at most as far as each stage order, and the finished stays in each stage.
HISTORY = """
WITH stays AS NOT MATERIALIZED (
  SELECT t.lead_id, t.deal_id, s."order" AS stage_order, t.entered_at, t.left_at
  FROM stage_transitions t JOIN stages s ON s.id = t.to_stage_id
  WHERE s.funnel_id = %(funnel)s
)
SELECT 'reached' AS part, top AS stage_order, count(*) AS n, NULL AS days
FROM (
  SELECT max(per_subject.top) AS top
  FROM (SELECT lead_id, deal_id, max(stage_order) AS top FROM stays GROUP BY lead_id, deal_id)
    AS per_subject
  LEFT JOIN deals d ON d.id = per_subject.deal_id
  GROUP BY coalesce(per_subject.lead_id, d.lead_id, per_subject.deal_id)
) AS furthest
GROUP BY top
UNION ALL
SELECT 'stay', stage_order, count(*), sum(extract(epoch FROM left_at - entered_at) / 86400.0)
FROM stays WHERE left_at IS NOT NULL GROUP BY stage_order
"""

# What a new lead needs, in one look: the funnel, the stage it starts in (the one named, or
# the first), the contact and the owner (the one named, or the caller), all of this company.
NEW_LEAD_REFERENCES = """
SELECT f.name AS funnel_name, s.id AS stage, s.name AS stage_name, s.is_final,
       c.id AS contact,
       concat_ws(' ', nullif(c.last_name, ''), nullif(c.first_name, ''), nullif(c.middle_name, ''))
         AS contact_name,
       o.id AS owner, coalesce(nullif(o.full_name, ''), o.email) AS owner_name
FROM funnels f
LEFT JOIN LATERAL (
  SELECT id, name, is_final FROM stages
  WHERE funnel_id = f.id AND (%(stage)s::uuid IS NULL OR id = %(stage)s::uuid)
  ORDER BY "order" LIMIT 1
) s ON true
LEFT JOIN contacts c ON c.id = %(contact)s AND c.company_id = f.company_id
LEFT JOIN users o ON o.id = %(owner)s AND o.company_id = f.company_id AND o.is_active
WHERE f.id = %(funnel)s AND f.company_id = %(company)s
"""

# One statement, so that the lead and its first stay are written together in autocommit.
INSERT_LEAD = """
WITH lead AS (
  INSERT INTO leads (id, company_id, contact_id, funnel_id, stage_id, owner_id, title,
                     description, estimated_value, probability, source, status, lost_reason,
                     stage_changed_at, created_at, updated_at, version)
  VALUES (%(id)s, %(company)s, %(contact)s, %(funnel)s, %(stage)s, %(owner)s, %(title)s,
          %(description)s, %(estimated_value)s, %(probability)s, %(source)s, 'open', '',
          %(now)s, %(now)s, %(now)s, 1)
  RETURNING id
)
INSERT INTO stage_transitions (id, subject, lead_id, from_stage_id, to_stage_id, entered_at,
                               seq, actor_id)
SELECT %(stay)s, 'lead', id, NULL, %(stage)s, %(now)s, 0, %(actor)s FROM lead
"""


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.field = status, title, detail, field


def invalid(field: str, message: str) -> Problem:
    return Problem(400, "Validation failed", f"{field}: {message}", field)


class Database:
    """One autocommit connection per server thread, and how many statements each thread sent."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._local = threading.local()

    def _connection(self) -> psycopg.Connection[Row]:
        connection: psycopg.Connection[Row] | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            connection = psycopg.connect(
                self.dsn, autocommit=True, row_factory=dict_row, options="-c timezone=UTC"
            )
            self._local.connection = connection
        return connection

    def rows(self, sql: str, params: Any = None) -> list[Row]:
        self._local.statements = self.statements + 1
        return self._connection().execute(sql, params).fetchall()

    def execute(self, sql: str, params: Any = None) -> None:
        self._local.statements = self.statements + 1
        self._connection().execute(sql, params)

    @property
    def statements(self) -> int:
        """Statements this thread sent since `reset` (bench.compare counts them per request)."""
        count: int = getattr(self._local, "statements", 0)
        return count

    def reset(self) -> None:
        self._local.statements = 0

    def close(self) -> None:
        """Closes this thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


# --- values as the product answers them ------------------------------------------------------


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=plain)
    return Response(text, status, headers, mimetype="application/json")


def exact_total(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def mean(total: Any, count: int) -> float | None:
    return round(float(total or 0) / count, 4) if count else None


def a_uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise invalid(field, "Not a valid UUID.") from None


def positive(name: str, default: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise invalid(name, "Must be a positive integer.")
    return int(text)


def phone_digits(text: str) -> str:
    """A phone query's digits as the product reads them for a Russian company: a leading 8
    is the national prefix of +7."""
    digits = re.sub(r"\D", "", text)
    if not text.strip().startswith("+") and digits.startswith("8") and len(digits) > 3:
        return "7" + digits[1:]
    return digits


# --- the application ---------------------------------------------------------------------------


def create_app(dsn: str | None = None) -> Flask:
    """The floor's WSGI app; gunicorn calls `bench.floor:create_app()`, which reads the libpq
    URL from FLOOR_DATABASE_URL."""
    database = Database(dsn or os.environ["FLOOR_DATABASE_URL"])
    app = Flask("floor")
    app.extensions["floor.database"] = database

    @app.errorhandler(Problem)
    def problem(error: Problem) -> Response:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": error.title,
            "status": error.status,
            "detail": error.detail,
        }
        if error.field:
            body["errors"] = {error.field: [error.detail.partition(": ")[2]]}
        response = answer(body, error.status)
        response.mimetype = "application/problem+json"
        return response

    def caller() -> Row:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        found = []
        if scheme.lower() == "bearer" and token.strip():
            digest = hashlib.sha256(token.strip().encode()).hexdigest()
            found = database.rows(AUTHENTICATE, (digest,))
        if not found:
            raise Problem(401, "Unauthorized", "Authentication credentials are not valid.")
        return found[0]

    def page_url(page: int, page_size: int) -> str:
        params = [
            (k, v) for k, v in request.args.items(multi=True) if k not in ("page", "page_size")
        ]
        params += [("page", str(page)), ("page_size", str(page_size))]
        return f"{request.base_url}?{urlencode(params)}"

    def envelope(count: int, rows: list[Row], page: int, page_size: int) -> Response:
        offset = (page - 1) * page_size
        if page > 1 and offset >= count:
            raise Problem(404, "Not Found", "Invalid page: past the end of the list.")
        has_next = offset + len(rows) < count
        return answer(
            {
                "count": count,
                "next": page_url(page + 1, page_size) if has_next else None,
                "previous": page_url(page - 1, page_size) if page > 1 else None,
                "results": rows,
            }
        )

    def lead(company: Any, lead_id: Any) -> Row:
        found = database.rows(
            f"SELECT {LEAD_COLUMNS} FROM {LEAD_SOURCE} WHERE l.company_id = %s AND l.id = %s",
            (company, lead_id),
        )
        if not found:
            raise Problem(404, "Not Found", "Lead not found.")
        return found[0]

    @app.get("/api/crm/leads/")
    def leads() -> Response:
        company = caller()["company_id"]
        page, page_size = positive("page", 1), min(positive("page_size", 50), MAX_PAGE_SIZE)
        where, params = "l.company_id = %s", [company]
        if "stage" in request.args:
            where += " AND l.stage_id = %s"
            params.append(a_uuid(request.args["stage"], "stage"))
        # The count needs no joins: every filter is on the lead itself.
        count = database.rows(f"SELECT count(*) AS n FROM leads l WHERE {where}", params)[0]["n"]
        rows = database.rows(
            f"SELECT {LEAD_COLUMNS} FROM {LEAD_SOURCE} WHERE {where} {NEWEST_FIRST.format(t='l')}",
            [*params, page_size, (page - 1) * page_size],
        )
        return envelope(count, rows, page, page_size)

    @app.get("/api/crm/leads/<uuid:lead_id>/")
    def lead_detail(lead_id: uuid.UUID) -> Response:
        return answer(lead(caller()["company_id"], lead_id))

    @app.post("/api/crm/leads/")
    def create_lead() -> Response:
        actor = caller()
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise Problem(400, "Bad Request", "The body must be a JSON object.")
        values = new_lead_values(body)
        references = database.rows(
            NEW_LEAD_REFERENCES,
            {**values, "company": actor["company_id"], "owner": values["owner"] or actor["id"]},
        )
        if not references:
            raise invalid("funnel", "Object with this id does not exist.")
        found = references[0]
        if found["contact"] is None:
            raise invalid("contact", "Object with this id does not exist.")
        if found["stage"] is None:
            field = "stage" if values["stage"] else "funnel"
            raise invalid(field, "This stage does not belong to the funnel.")
        if found["is_final"]:
            raise invalid("stage", "A new lead cannot start in a final stage.")
        if found["owner"] is None:
            raise invalid("owner", "Object with this id does not exist.")
        now = datetime.now(UTC)
        row = {
            **values,
            "id": uuid.uuid4(),
            "stay": uuid.uuid4(),
            "company": actor["company_id"],
            "stage": found["stage"],
            "owner": found["owner"],
            "actor": actor["id"],
            "now": now,
        }
        database.execute(INSERT_LEAD, row)
        created = {
            "id": row["id"],
            "created_at": now,
            "updated_at": now,
            "company": row["company"],
            "contact": row["contact"],
            "contact_name": found["contact_name"],
            "funnel": row["funnel"],
            "funnel_name": found["funnel_name"],
            "stage": row["stage"],
            "stage_name": found["stage_name"],
            "owner": row["owner"],
            "owner_name": found["owner_name"],
            "title": row["title"],
            "description": row["description"],
            "probability": row["probability"],
            "stage_changed_at": now,
            "closed_at": None,
            "estimated_value": row["estimated_value"],
            "source": row["source"],
            "status": "open",
            "deal": None,
            "lost_reason": "",
        }
        location = f"{request.host_url}api/crm/leads/{row['id']}/"
        return answer(created, 201, {"Location": location})

    @app.get("/api/crm/contacts/")
    def contacts() -> Response:
        company = caller()["company_id"]
        page, page_size = positive("page", 1), min(positive("page_size", 50), MAX_PAGE_SIZE)
        where, params = "c.company_id = %s", [company]
        if "phone" in request.args:
            digits = phone_digits(request.args["phone"])
            if not digits:
                raise invalid("phone", "Must contain digits.")
            where += " AND c.phone_digits LIKE %s"
            params.append(f"%{digits}%")
        count = database.rows(f"SELECT count(*) AS n FROM contacts c WHERE {where}", params)[0]["n"]
        rows = database.rows(
            f"SELECT {CONTACT_COLUMNS} FROM {CONTACT_SOURCE} WHERE {where} "
            + NEWEST_FIRST.format(t="c"),
            [*params, page_size, (page - 1) * page_size],
        )
        return envelope(count, rows, page, page_size)

    @app.get("/api/crm/funnels/<uuid:funnel_id>/statistics/")
    def funnel_statistics(funnel_id: uuid.UUID) -> Response:
        company = caller()["company_id"]
        ids = {"company": company, "funnel": funnel_id}
        stages = database.rows(STAGE_FIGURES, ids)
        if not stages:
            raise Problem(404, "Not Found", "Funnel not found.")
        history = database.rows(HISTORY, ids)
        return answer(statistics(funnel_id, stages, history))

    return app


def new_lead_values(body: dict[str, Any]) -> Row:
    """The columns of a new lead from a POST body, checked for shape only."""
    title = body.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= 255:
        raise invalid("title", "Must be text of 1 to 255 characters.")
    for field in ("contact", "funnel"):
        if body.get(field) is None:
            raise invalid(field, "Missing data for required field.")
    try:
        value = Decimal(str(body.get("estimated_value", 0)))
    except InvalidOperation:
        raise invalid("estimated_value", "Not a valid amount.") from None
    if not value.is_finite() or value < 0 or value > MAX_MONEY or value != value.quantize(CENT):
        raise invalid("estimated_value", "Not a valid amount.")
    probability = body.get("probability", 0)
    if isinstance(probability, bool) or not isinstance(probability, int):
        raise invalid("probability", "Must be an integer.")
    if not 0 <= probability <= 100:
        raise invalid("probability", "Must be between 0 and 100.")
    optional = {
        field: None if body.get(field) is None else a_uuid(body[field], field)
        for field in ("stage", "owner")
    }
    return {
        "contact": a_uuid(body["contact"], "contact"),
        "funnel": a_uuid(body["funnel"], "funnel"),
        **optional,
        "title": title,
        "description": str(body.get("description") or ""),
        "estimated_value": value.quantize(CENT),
        "probability": probability,
        "source": str(body.get("source") or "")[:64],
    }


def statistics(funnel_id: uuid.UUID, stages: list[Row], history: list[Row]) -> Row:
    """CONTRACT section 5 from the per-stage figures and the history, without a period."""
    reached_top: dict[int, int] = {}
    stays: dict[int, tuple[int, Any]] = {}
    for row in history:
        if row["part"] == "reached":
            reached_top[row["stage_order"]] = row["n"]
        else:
            stays[row["stage_order"]] = (row["n"], row["days"])
    figures = [row for row in stages if row["id"] is not None]
    per_stage = []
    previous: int | None = None
    for stage in figures:
        reached = sum(n for top, n in reached_top.items() if top >= stage["order"])
        stay_count, stay_days = stays.get(stage["order"], (0, None))
        per_stage.append(
            {
                "stage_id": stage["id"],
                "stage_name": stage["name"],
                "order": stage["order"],
                "color": stage["color"],
                "is_final": stage["is_final"],
                "is_success": stage["is_success"],
                "leads_count": stage["leads"],
                "leads_value": exact_total(stage["leads_value"]),
                "deals_count": stage["deals"],
                "deals_amount": exact_total(stage["deals_amount"]),
                "open_count": stage["open_leads"] + stage["open_deals"],
                "open_amount": exact_total(stage["open_leads_value"])
                + exact_total(stage["pipeline"]),
                "reached_count": reached,
                "conversion_from_previous": None if previous is None else ratio(reached, previous),
                "avg_days_in_stage": mean(stay_days, stay_count),
            }
        )
        previous = reached

    def total(name: str) -> Any:
        return sum((row[name] or 0 for row in figures), start=0)

    leads, won, lost = total("leads"), total("won"), total("lost")
    won_amount = exact_total(total("won_amount"))
    return {
        "funnel_id": funnel_id,
        "funnel_name": stages[0]["funnel_name"],
        "leads_count": leads,
        "deals_count": total("deals"),
        "open_deals": total("open_deals"),
        "won_deals": won,
        "lost_deals": lost,
        "total_amount": won_amount,
        "won_amount": won_amount,
        "lost_amount": exact_total(total("lost_amount")),
        "pipeline_amount": exact_total(total("pipeline")),
        "weighted_pipeline_amount": exact_total(exact_total(total("weighted")) / 100),
        "win_rate": ratio(won, won + lost),
        "lead_to_deal_rate": ratio(total("converted"), leads),
        "avg_days_to_win": mean(total("days_to_win"), won),
        "stages_statistics": per_stage,
    }
