"""Funnels and their ordered stages."""

from __future__ import annotations

import pytest

from crm_core import Actor, Color, Conflict, Funnel, NotFound, StageSpec, ValidationFailed
from crm_core.services.funnels import ChangeFunnel, ChangeStage
from crm_core.services.pipeline import CreateDeal, CreateLead
from crm_core.values import CompanyId, new_id
from tests.unit.conftest import Crm

DEFAULTS = [
    ("Новый лид", 1, False, False),
    ("Квалификация", 2, False, False),
    ("Предложение", 3, False, False),
    ("Переговоры", 4, False, False),
    ("Закрыта успешно", 5, True, True),
    ("Закрыта неудачно", 6, True, False),
]


def test_given_no_stages_when_a_funnel_is_created_then_it_has_the_six_default_stages(
    crm: Crm, anna: Actor
) -> None:
    funnel_id = crm.funnels.create_funnel(anna, "Продажи услуг")

    funnel = crm.funnel_of(anna, funnel_id)
    assert [(s.name, s.order, s.is_final, s.is_success) for s in funnel.ordered_stages] == DEFAULTS
    assert funnel.first_stage is not None and funnel.first_stage.name == "Новый лид"
    assert funnel.success_stage is not None and funnel.success_stage.name == "Закрыта успешно"
    assert funnel.failure_stage is not None and funnel.failure_stage.name == "Закрыта неудачно"
    assert funnel.created_at == crm.clock.now()


def test_given_an_empty_stage_list_when_a_funnel_is_created_then_it_has_no_stages(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna, stages=[])

    assert funnel.stages == []
    assert funnel.first_stage is None and funnel.success_stage is None


def test_given_several_final_stages_then_the_lowest_order_of_each_kind_is_chosen() -> None:
    funnel = Funnel.create(
        CompanyId(new_id()),
        "f",
        [
            StageSpec("Won later", 9, is_final=True, is_success=True),
            StageSpec("Lost later", 8, is_final=True),
            StageSpec("Open", 5),
            StageSpec("Won", 7, is_final=True, is_success=True),
            StageSpec("Lost", 6, is_final=True),
        ],
    )

    assert funnel.first_stage is not None and funnel.first_stage.name == "Open"
    assert funnel.success_stage is not None and funnel.success_stage.name == "Won"
    assert funnel.failure_stage is not None and funnel.failure_stage.name == "Lost"


def test_given_stages_without_order_then_each_goes_after_the_last() -> None:
    funnel = Funnel.create(CompanyId(new_id()), "f", [StageSpec("a", 4), StageSpec("b")])

    assert [(s.name, s.order) for s in funnel.ordered_stages] == [("a", 4), ("b", 5)]


def test_given_clashing_orders_and_a_success_that_is_not_final_then_every_error_is_named(
    crm: Crm, anna: Actor
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        crm.funnels.create_funnel(
            anna,
            "f",
            stages=[StageSpec("a", 1), StageSpec("b", 1), StageSpec("c", 2, is_success=True)],
        )

    assert set(refused.value.errors) == {"stages.1.order", "stages.2.is_success"}


def test_given_a_funnel_when_a_stage_is_added_with_a_taken_order_then_400_on_order(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)

    with pytest.raises(ValidationFailed) as refused:
        crm.funnels.create_stage(anna, funnel.id, ChangeStage(name="Дубль", order=3))

    assert refused.value.errors == {
        "order": ["A stage with this order already exists in the funnel."]
    }


def test_given_a_funnel_when_a_stage_is_added_without_order_then_it_goes_last_lower_case(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)

    stage_id = crm.funnels.create_stage(
        anna, funnel.id, ChangeStage(name="Архив", color=Color("#ABCDEF"))
    )

    stage = crm.funnel_of(anna, funnel.id).stage(stage_id)
    assert (stage.order, stage.color.hex) == (7, "#abcdef")


def test_given_a_success_stage_that_is_not_final_then_it_is_refused(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)

    with pytest.raises(ValidationFailed) as refused:
        crm.funnels.create_stage(anna, funnel.id, ChangeStage(name="x", is_success=True))

    assert list(refused.value.errors) == ["is_success"]


def test_given_an_empty_stage_when_its_flags_change_then_they_change(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)
    stage = funnel.ordered_stages[3]

    crm.funnels.update_stage(anna, stage.id, ChangeStage(is_final=True, is_success=True))

    changed = crm.funnel_of(anna, funnel.id).stage(stage.id)
    assert (changed.is_final, changed.is_success) == (True, True)


def test_given_an_occupied_stage_when_its_flags_change_then_409_and_nothing_changes(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    success = funnel.success_stage
    assert success is not None
    contact = crm.contact(anna)
    crm.deals.create_deal(
        anna, CreateDeal(contact_id=contact, funnel_id=funnel.id, title="d", stage_id=success.id)
    )

    with pytest.raises(Conflict):
        crm.funnels.update_stage(anna, success.id, ChangeStage(is_success=False))

    assert crm.funnel_of(anna, funnel.id).stage(success.id).is_success
    crm.funnels.update_stage(anna, success.id, ChangeStage(name="Победа", color=Color("#000000")))
    renamed = crm.funnel_of(anna, funnel.id).stage(success.id)
    assert (renamed.name, renamed.is_success) == ("Победа", True)


def test_given_an_occupied_stage_or_funnel_when_deleted_then_409(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)
    first = funnel.ordered_stages[0]
    crm.leads.create_lead(
        anna, CreateLead(contact_id=crm.contact(anna), funnel_id=funnel.id, title="l")
    )

    with pytest.raises(Conflict):
        crm.funnels.delete_stage(anna, first.id)
    with pytest.raises(Conflict):
        crm.funnels.delete_funnel(anna, funnel.id)

    assert crm.funnel_of(anna, funnel.id).has_stage(first.id)


def test_given_an_empty_stage_and_funnel_when_deleted_then_they_are_gone(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)
    last = funnel.ordered_stages[-1]

    crm.funnels.delete_stage(anna, last.id)
    assert not crm.funnel_of(anna, funnel.id).has_stage(last.id)

    crm.funnels.delete_funnel(anna, funnel.id)
    with pytest.raises(NotFound):
        crm.funnel_of(anna, funnel.id)


def test_given_a_funnel_when_renamed_then_only_plain_fields_change(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)
    crm.clock.advance(hours=1)

    crm.funnels.update_funnel(anna, funnel.id, ChangeFunnel(name="Опт", is_active=False))

    changed = crm.funnel_of(anna, funnel.id)
    assert (changed.name, changed.is_active, len(changed.stages)) == ("Опт", False, 6)
    assert changed.updated_at == crm.clock.now()


def test_given_another_companys_funnel_then_it_is_not_found_and_no_reference(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    funnel = crm.funnel(anna)
    stage = funnel.ordered_stages[0]

    with pytest.raises(NotFound):
        crm.funnel_of(boris, funnel.id)
    with pytest.raises(NotFound):
        crm.funnels.update_funnel(boris, funnel.id, ChangeFunnel(name="x"))
    with pytest.raises(NotFound):
        crm.funnels.delete_funnel(boris, funnel.id)
    with pytest.raises(NotFound):
        crm.funnels.update_stage(boris, stage.id, ChangeStage(name="x"))
    with pytest.raises(NotFound):
        crm.funnels.delete_stage(boris, stage.id)
    with pytest.raises(ValidationFailed) as refused:
        crm.funnels.create_stage(boris, funnel.id, ChangeStage(name="x"))
    assert list(refused.value.errors) == ["funnel"]
    assert crm.funnel_of(anna, funnel.id).ordered_stages[0].name == "Новый лид"


def test_given_a_blank_or_long_name_then_the_funnel_is_refused_and_kept(
    crm: Crm, anna: Actor
) -> None:
    funnel = crm.funnel(anna)

    with pytest.raises(ValidationFailed) as blank:
        crm.funnels.create_funnel(anna, " ")
    with pytest.raises(ValidationFailed) as long:
        crm.funnels.update_funnel(anna, funnel.id, ChangeFunnel(name="я" * 256))

    assert (list(blank.value.errors), list(long.value.errors)) == (["name"], ["name"])
    assert crm.funnel_of(anna, funnel.id).name == "Продажи"


def test_given_colours_as_text_then_they_are_checked_per_stage_and_kept_lower_case(
    crm: Crm, anna: Actor
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        crm.funnels.create_funnel(
            anna, "f", stages=[StageSpec("a", 1, "#ABCDEF"), StageSpec("b", 2, "blue")]
        )
    assert list(refused.value.errors) == ["stages.1.color"]

    funnel = crm.funnel(anna, stages=[StageSpec("a", 1, "#ABCDEF")])
    stage = funnel.ordered_stages[0]
    assert stage.color == Color("#abcdef")
    crm.funnels.update_stage(anna, stage.id, ChangeStage(color="#FFFFFF"))
    assert crm.funnel_of(anna, funnel.id).stage(stage.id).color.hex == "#ffffff"


def test_given_100_stages_when_one_more_is_added_or_created_then_400_and_nothing_changes(
    crm: Crm, anna: Actor
) -> None:
    specs = [StageSpec(f"s{n}", n) for n in range(1, 101)]
    funnel = crm.funnel(anna, stages=specs)

    with pytest.raises(ValidationFailed) as added:
        crm.funnels.create_stage(anna, funnel.id, ChangeStage(name="101"))
    with pytest.raises(ValidationFailed) as created:
        crm.funnels.create_funnel(anna, "f", stages=[*specs, StageSpec("s101", 101)])

    assert (list(added.value.errors), list(created.value.errors)) == (["funnel"], ["stages"])
    assert len(crm.funnel_of(anna, funnel.id).stages) == 100
    assert len(crm.db.rows("funnels")) == 1


def test_given_99_stages_when_one_is_added_then_it_is_the_hundredth(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna, stages=[StageSpec(f"s{n}", n) for n in range(1, 100)])

    stage_id = crm.funnels.create_stage(anna, funnel.id, ChangeStage(name="s100"))

    changed = crm.funnel_of(anna, funnel.id)
    assert (len(changed.stages), changed.stage(stage_id).order) == (100, 100)


def test_given_a_stage_name_over_255_chars_then_400_on_name(crm: Crm, anna: Actor) -> None:
    funnel = crm.funnel(anna)
    stage = funnel.ordered_stages[0]

    with pytest.raises(ValidationFailed) as added:
        crm.funnels.create_stage(anna, funnel.id, ChangeStage(name="я" * 256))
    with pytest.raises(ValidationFailed) as renamed:
        crm.funnels.update_stage(anna, stage.id, ChangeStage(name="я" * 256))

    assert (list(added.value.errors), list(renamed.value.errors)) == (["name"], ["name"])
    assert crm.funnel_of(anna, funnel.id).stage(stage.id).name == "Новый лид"


def test_given_a_funnel_read_to_consult_when_it_is_changed_then_the_commit_fails_the_test(
    crm: Crm, anna: Actor
) -> None:
    """The fakes hold use cases to `funnels.read`'s promise: what is read is not changed."""
    funnel = crm.funnel(anna)
    with crm.db.unit_of_work() as uow:
        read = uow.funnels.read(anna.company_id, funnel.id)
        read.ordered_stages[0].name = "Изменено"
        with pytest.raises(AssertionError, match="changed after read"):
            uow.commit()
