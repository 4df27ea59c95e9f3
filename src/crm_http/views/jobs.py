"""Background jobs for admins: `/api/crm/jobs/` (what is queued, running, done or dead) and
`/api/crm/jobs/touch/` (enqueue harmless jobs to check the background path end to end)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import EXCLUDE, Schema, fields, validate

from crm_core.jobs import JobStatus
from crm_core.ports import Clock, JobStore, Row
from crm_core.services.jobs import enqueue_touches
from crm_http.auth import current_actor
from crm_http.container import Container
from crm_http.fields import Timestamp
from crm_http.schemas import Body
from crm_http.smorest import Blueprint

MAX_LISTED = 500
STATUSES = [status.value for status in JobStatus]


class TouchBody(Body):
    count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1000))
    seconds = fields.Float(
        load_default=0.0,
        validate=validate.Range(min=0, max=60),
        metadata={"description": "how long each touch job sleeps before it records its run"},
    )


class TouchAnswer(Schema):
    ids = fields.List(fields.UUID(), metadata={"description": "the enqueued jobs, in order"})


class JobsArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=validate.OneOf(STATUSES))
    kind = fields.String(validate=validate.Length(max=100))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_LISTED))


class JobRow(Schema):
    class Meta:
        ordered = True

    id = fields.UUID()
    kind = fields.String()
    dedupe_key = fields.String()
    status = fields.String(metadata={"enum": STATUSES})
    attempts = fields.Integer()
    max_attempts = fields.Integer()
    run_after = Timestamp()
    lease_until = Timestamp(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


class JobList(Schema):
    results = fields.List(fields.Nested(JobRow))


def jobs_blueprint(container: Container) -> Blueprint:
    uow: Any = container.uow
    clock: Any = container.clock
    store: Any = container.job_store
    blp = Blueprint(
        "jobs", __name__, url_prefix="/api/crm/jobs", description="Background jobs (admins only)."
    )

    @blp.route("/")
    class Jobs(MethodView):
        @blp.arguments(JobsArgs, location="query")
        @blp.response(200, JobList)
        def get(self, args: dict[str, Any]) -> dict[str, list[Row]]:
            """The newest jobs first, filtered by `status` and `kind`: at most `limit` of them
            (default 50, at most 500), not paginated. Admins only."""
            current_actor().require_admin("list background jobs")
            jobs: JobStore = store()
            return {"results": jobs.listing(args.get("status"), args.get("kind"), args["limit"])}

    @blp.route("/touch/", methods=["POST"])
    @blp.arguments(TouchBody)
    @blp.response(202, TouchAnswer)
    def touch(body: dict[str, Any]) -> dict[str, list[object]]:
        """Enqueues `count` touch jobs (1 to 1000) in one transaction; each sleeps `seconds`
        (0 to 60) and records that it ran. A worker runs them: see `GET /api/crm/jobs/`.
        Admins only."""
        current_actor().require_admin("enqueue touch jobs")
        units: Any = uow()
        now: Clock = clock()
        ids = enqueue_touches(units, now, body["count"], body["seconds"])
        return {"ids": ids}

    return blp
