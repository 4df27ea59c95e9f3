"""`funnels.read`: the funnel a lead or deal is placed in or moved by, which a process keeps
between units of work and checks by the funnel's `layout` number (on SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, inspect, update
from sqlalchemy.sql import Executable

from crm_adapters.sql import tables
from crm_adapters.sql.unit_of_work import SqlUnitOfWork, unit_of_work_factory
from crm_core.errors import NotFound
from crm_core.funnel import Funnel
from crm_core.services.funnels import ChangeFunnel, ChangeStage
from tests.integration.sql.conftest import World, sent_by

UowFactory = Callable[[], SqlUnitOfWork]


def read(uow: UowFactory, world: World, funnel_id: uuid.UUID) -> Funnel:
    with uow() as unit:
        return unit.funnels.read(world.company_id, funnel_id)


def layout(funnel: Funnel) -> tuple[Any, ...]:
    """What a funnel says, stage by stage."""
    stages = tuple(
        (stage.id, stage.name, stage.order, stage.color, stage.is_final, stage.is_success)
        for stage in funnel.ordered_stages
    )
    return funnel.name, funnel.is_active, stages


def committed(uow: UowFactory, world: World, funnel_id: uuid.UUID) -> tuple[Any, ...]:
    with uow() as unit:
        return layout(unit.funnels.get(world.company_id, funnel_id))


def test_units_of_work_share_a_read_funnel_until_it_changes(uow: UowFactory, world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Продажи")
    first = read(uow, world, funnel_id)
    assert inspect(first).detached  # no session owns it, so any thread may consult it

    world.lead(world.contact(), funnel_id)  # leads written in it change nothing it says
    assert read(uow, world, funnel_id) is first

    stage = first.ordered_stages[0]
    world.funnels.update_stage(world.admin, stage.id, ChangeStage(name="Первый звонок"))
    second = read(uow, world, funnel_id)
    assert second is not first
    assert second.ordered_stages[0].name == "Первый звонок"
    assert first.ordered_stages[0].name == stage.name  # what was handed out never changes


CHANGES: dict[str, Callable[[World, uuid.UUID, list[uuid.UUID]], Any]] = {
    "the funnel renamed": lambda world, funnel, _: world.funnels.update_funnel(
        world.admin, funnel, ChangeFunnel(name="Опт")
    ),
    "the funnel made inactive": lambda world, funnel, _: world.funnels.update_funnel(
        world.admin, funnel, ChangeFunnel(is_active=False)
    ),
    "a stage added": lambda world, funnel, _: world.funnels.create_stage(
        world.admin, funnel, ChangeStage(name="Счёт выставлен", order=10)
    ),
    "a stage renamed": lambda world, _, stages: world.funnels.update_stage(
        world.admin, stages[1], ChangeStage(name="Встреча")
    ),
    "a stage reordered": lambda world, _, stages: world.funnels.update_stage(
        world.admin, stages[1], ChangeStage(order=40)
    ),
    "a stage made final": lambda world, _, stages: world.funnels.update_stage(
        world.admin, stages[1], ChangeStage(is_final=True)
    ),
    "a stage deleted": lambda world, _, stages: world.funnels.delete_stage(world.admin, stages[2]),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_read_funnel_is_the_committed_one_after_each_kind_of_change(
    uow: UowFactory, world: World, change: str
) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Продажи")
    before = layout(read(uow, world, funnel_id))  # now kept by the process

    CHANGES[change](world, funnel_id, world.stages(funnel_id))

    after = layout(read(uow, world, funnel_id))
    assert after != before
    assert after == committed(uow, world, funnel_id)


def test_a_change_made_by_another_process_is_seen(engine: Engine, world: World) -> None:
    """Two factories keep funnels apart, as two processes or machines do: the number read
    with each funnel tells one of the other's commits."""
    here, elsewhere = unit_of_work_factory(engine), unit_of_work_factory(engine)
    funnel_id = world.funnels.create_funnel(world.admin, "Продажи")
    stage = read(here, world, funnel_id).ordered_stages[1]

    new_world_of(elsewhere, world).funnels.update_stage(
        world.admin, stage.id, ChangeStage(is_final=True)
    )

    assert read(here, world, funnel_id).stage(stage.id).is_final


stages, funnels = tables.stages, tables.funnels

SQL_CHANGES: dict[str, Callable[[uuid.UUID, uuid.UUID, uuid.UUID], Executable]] = {
    "a stage made final": lambda _, stage, __: (
        update(stages).where(stages.c.id == stage).values(is_final=True)
    ),
    "a stage deleted": lambda _, stage, __: delete(stages).where(stages.c.id == stage),
    "a stage added": lambda funnel, _, __: insert(stages).values(
        id=uuid.uuid4(), funnel_id=funnel, name="Счёт", order=90
    ),
    "a stage moved to another funnel": lambda _, stage, other: (
        update(stages).where(stages.c.id == stage).values(funnel_id=other, order=90)
    ),
    "the funnel renamed": lambda funnel, _, __: (
        update(funnels).where(funnels.c.id == funnel).values(name="Опт")
    ),
}


@pytest.mark.parametrize("change", list(SQL_CHANGES))
def test_a_change_made_outside_the_application_is_seen(
    engine: Engine, uow: UowFactory, world: World, change: str
) -> None:
    """By an operator's SQL, or a process of an older version during a deploy: the database
    moves the number itself, for every funnel the statement touched."""
    funnel_id = world.funnels.create_funnel(world.admin, "Продажи")
    other_id = world.funnels.create_funnel(world.admin, "Опт")
    before = [layout(read(uow, world, funnel)) for funnel in (funnel_id, other_id)]

    statement = SQL_CHANGES[change](funnel_id, world.stages(funnel_id)[1], other_id)
    with engine.begin() as connection:  # no unit of work: plain SQL
        connection.execute(statement)

    after = [layout(read(uow, world, funnel)) for funnel in (funnel_id, other_id)]
    assert after[0] != before[0]
    assert after == [committed(uow, world, funnel) for funnel in (funnel_id, other_id)]


def new_world_of(uow: UowFactory, world: World) -> World:
    """The same company and admin, working through another factory."""
    return World(uow=uow, clock=world.clock, admin=world.admin, access=world.access)


def test_a_funnel_is_read_within_its_company_alone(
    uow: UowFactory, world: World, make_world: Callable[..., World]
) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Продажи")
    read(uow, world, funnel_id)  # kept by the process

    with pytest.raises(NotFound):
        read(uow, make_world(), funnel_id)


def test_a_deleted_funnel_is_not_read(uow: UowFactory, world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Продажи")
    read(uow, world, funnel_id)

    world.funnels.delete_funnel(world.admin, funnel_id)

    with pytest.raises(NotFound):
        read(uow, world, funnel_id)
    with pytest.raises(NotFound):
        read(uow, world, uuid.uuid4())


def test_a_unit_of_work_reads_the_funnel_as_it_changed_it(uow: UowFactory, world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Продажи")
    read(uow, world, funnel_id)

    with uow() as unit:
        own = unit.funnels.get(world.company_id, funnel_id)
        own.ordered_stages[0].name = "Не сохранено"
        seen = unit.funnels.read(world.company_id, funnel_id)
        assert seen is own

    assert read(uow, world, funnel_id).ordered_stages[0].name != "Не сохранено"


def test_a_kept_funnel_costs_one_statement(engine: Engine, uow: UowFactory, world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Продажи")
    read(uow, world, funnel_id)

    sent = sent_by(engine, lambda: read(uow, world, funnel_id))

    # On PostgreSQL the lock and the number in one round trip, by a function (migration 0010).
    (statement,) = sent
    assert "stages" not in statement
    expected = "crm_funnel_layout(" if engine.dialect.name == "postgresql" else "layout"
    assert expected in statement
