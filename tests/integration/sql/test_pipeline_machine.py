"""The unit tests' pipeline state machine, run on the SQL unit of work (reading back from the
database after every step): the mapping keeps every transition rule that the fakes keep."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from crm_adapters.sql.unit_of_work import SqlUnitOfWork
from tests.fakes import FixedClock
from tests.unit.test_pipeline_machine import make_pipeline_machine


def test_the_pipeline_machine_on_sql(uow: Callable[[], SqlUnitOfWork]) -> None:
    # No setup: every run makes a company of its own in the shared database.
    machine = make_pipeline_machine(uow, FixedClock())
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=6,
            stateful_step_count=15,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
