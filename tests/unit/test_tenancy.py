"""Companies, users, tokens and branches; the errors every adapter translates."""

from __future__ import annotations

import pytest

from crm_core import (
    Actor,
    Conflict,
    DomainError,
    InvalidValue,
    NotFound,
    PermissionDenied,
    ProviderFailed,
    ProviderTimedOut,
    Role,
    ValidationFailed,
)
from crm_core.errors import FieldErrors
from crm_core.tenancy import hash_token
from tests.unit.conftest import Crm


def test_given_a_new_company_name_when_a_user_is_created_then_the_company_is_made_once(
    crm: Crm,
) -> None:
    first_id, first_token = crm.access.create_user("ООО Ромашка", "Anna@Example.com", "pw")
    second_id, _ = crm.access.create_user("ООО Ромашка", "pavel@example.com", None, Role.ADMIN)

    anna, pavel = crm.access.authenticate(first_token), crm.access.issue_token("PAVEL@example.com")
    with crm.read() as uow:
        users = [uow.users.find(first_id), uow.users.find(second_id)]
    assert anna is not None and anna.role is Role.MANAGER
    assert [u.company_id for u in users if u] == [anna.company_id] * 2
    assert [u.email for u in users if u] == ["anna@example.com", "pavel@example.com"]
    assert crm.access.authenticate(pavel) is not None


def test_given_a_taken_email_when_a_user_is_created_then_409(crm: Crm) -> None:
    crm.access.create_user("A", "anna@example.com", "pw")

    with pytest.raises(Conflict):
        crm.access.create_user("B", "ANNA@example.com", "pw")


def test_given_credentials_when_logging_in_then_only_the_right_ones_give_a_token(
    crm: Crm,
) -> None:
    crm.access.create_user("A", "anna@example.com", "s3cret")
    crm.access.create_user("A", "tokens@example.com", None)

    token = crm.access.log_in("Anna@example.com", "s3cret")

    assert token is not None and crm.access.authenticate(token) is not None
    assert crm.access.log_in("anna@example.com", "wrong") is None
    assert crm.access.log_in("nobody@example.com", "s3cret") is None
    assert crm.access.log_in("not an email", "s3cret") is None
    assert crm.access.log_in("tokens@example.com", "") is None


def test_given_a_token_then_only_its_hash_is_stored_and_revoking_ends_it(crm: Crm) -> None:
    _, token = crm.access.create_user("A", "anna@example.com", "pw")

    with crm.read() as uow:
        stored = uow.tokens.by_hash(hash_token(token))
    assert stored is not None and stored.token_hash != token and len(token) >= 43

    crm.access.revoke_token(token)
    assert crm.access.authenticate(token) is None
    assert crm.access.authenticate("made-up") is None


def test_given_a_deactivated_user_then_their_token_no_longer_works(crm: Crm) -> None:
    user_id, token = crm.access.create_user("A", "anna@example.com", "pw")
    with crm.db.unit_of_work() as uow:
        user = uow.users.find(user_id)
        assert user is not None
        user.is_active = False
        uow.users.save(user)
        uow.commit()

    assert crm.access.authenticate(token) is None
    assert crm.access.log_in("anna@example.com", "pw") is None


def test_given_a_manager_when_an_admin_action_is_asked_then_permission_is_denied(
    crm: Crm,
) -> None:
    manager = crm.company(role=Role.MANAGER)
    admin = crm.company(role=Role.ADMIN)

    with pytest.raises(PermissionDenied, match="manage accounts"):
        manager.require_admin("manage accounts")
    admin.require_admin("manage accounts")


def test_given_branches_then_they_belong_to_their_company(
    crm: Crm, anna: Actor, boris: Actor
) -> None:
    branch_id = crm.access.create_branch(anna, {"name": "Центр", "address": "Тверская, 1"})

    crm.access.update_branch(anna, branch_id, {"is_active": False})
    with pytest.raises(NotFound):
        crm.access.update_branch(boris, branch_id, {"name": "x"})
    with pytest.raises(NotFound):
        crm.access.delete_branch(boris, branch_id)

    with crm.read() as uow:
        branch = uow.branches.get(anna.company_id, branch_id)
    assert (branch.name, branch.address, branch.is_active) == ("Центр", "Тверская, 1", False)


# --- errors ---------------------------------------------------------------------------------


def test_every_error_is_a_domain_error_with_a_detail() -> None:
    for error in (
        NotFound("Lead"),
        Conflict("rule"),
        ValidationFailed.on("f", "m"),
        PermissionDenied("no"),
        InvalidValue("bad"),
        ProviderFailed("down"),
        ProviderTimedOut("slow"),
    ):
        assert isinstance(error, DomainError) and error.detail
    assert isinstance(ProviderTimedOut("x"), ProviderFailed)
    assert NotFound("Lead").detail == "Lead not found."


def test_given_errors_on_several_fields_then_they_are_named_together() -> None:
    errors = FieldErrors()
    with errors.field("amount"):
        raise InvalidValue("Must not be negative.")
    with errors.field("ignored-prefix"):
        raise ValidationFailed({"stages.0.order": ["Taken."]})
    errors.add("amount", "Again.")

    with pytest.raises(ValidationFailed) as refused:
        errors.raise_if_any()

    assert refused.value.errors == {
        "amount": ["Must not be negative.", "Again."],
        "stages.0.order": ["Taken."],
    }
    assert refused.value.detail == "amount: Must not be negative.; stages.0.order: Taken."


def test_given_a_user_with_tokens_when_an_admin_sets_a_new_password_then_every_token_ends(
    crm: Crm,
) -> None:
    admin = crm.company("Ромашка")
    user_id, first = crm.access.create_user("Ромашка", "anna@example.com", "old-password")
    second = crm.access.log_in("anna@example.com", "old-password")
    assert second is not None

    crm.access.update_user(admin, user_id, {"password": "new-password"})

    assert crm.access.authenticate(first) is None
    assert crm.access.authenticate(second) is None
    assert crm.access.log_in("anna@example.com", "old-password") is None
    fresh = crm.access.log_in("anna@example.com", "new-password")
    assert fresh is not None and crm.access.authenticate(fresh) is not None
    assert crm.access.issue_token("anna@example.com")  # the account itself goes on
