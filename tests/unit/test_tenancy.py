"""Companies, users, tokens and branches; the errors every adapter translates."""

from __future__ import annotations

from datetime import UTC, datetime

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
from crm_core.services.tenancy import (
    AddUser,
    ChangeBranch,
    ChangeOwnPassword,
    ChangeUser,
    CreateBranch,
)
from crm_core.tenancy import User, hash_token
from crm_core.values import CompanyId, new_id
from tests.unit.conftest import Crm

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


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
    branch_id = crm.access.create_branch(anna, CreateBranch("Центр", address="Тверская, 1"))

    crm.access.update_branch(anna, branch_id, ChangeBranch(is_active=False))
    with pytest.raises(NotFound):
        crm.access.update_branch(boris, branch_id, ChangeBranch(name="x"))
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

    crm.access.update_user(admin, user_id, ChangeUser(password="new-password"))

    assert crm.access.authenticate(first) is None
    assert crm.access.authenticate(second) is None
    assert crm.access.log_in("anna@example.com", "old-password") is None
    fresh = crm.access.log_in("anna@example.com", "new-password")
    assert fresh is not None and crm.access.authenticate(fresh) is not None
    assert crm.access.issue_token("anna@example.com")  # the account itself goes on


# --- users: own password, deactivation, limits ----------------------------------------------


def test_given_the_right_current_password_when_a_user_changes_it_then_only_this_session_lasts(
    crm: Crm,
) -> None:
    user_id, first = crm.access.create_user("Ромашка", "anna@example.com", "old-password")
    this = crm.access.log_in("anna@example.com", "old-password")
    assert this is not None
    anna = crm.access.authenticate(this)
    assert anna is not None
    crm.clock.advance(minutes=1)

    crm.access.change_own_password(
        anna, ChangeOwnPassword("old-password", "new-password"), keep_token=this
    )

    assert crm.access.authenticate(this) == anna
    assert crm.access.authenticate(first) is None
    assert crm.access.log_in("anna@example.com", "old-password") is None
    assert crm.access.log_in("anna@example.com", "new-password") is not None
    with crm.read() as uow:
        user = uow.users.find(user_id)
    assert user is not None and user.updated_at == crm.clock.now()


def test_given_a_wrong_current_password_then_400_on_current_password_and_nothing_changes(
    crm: Crm,
) -> None:
    _, token = crm.access.create_user("Ромашка", "anna@example.com", "old-password")
    anna = crm.access.authenticate(token)
    assert anna is not None

    with pytest.raises(ValidationFailed) as refused:
        crm.access.change_own_password(anna, ChangeOwnPassword("wrong", "new-password"))

    assert list(refused.value.errors) == ["current_password"]
    assert crm.access.authenticate(token) == anna
    assert crm.access.log_in("anna@example.com", "old-password") is not None


def test_given_a_user_without_a_password_then_no_current_password_is_right(crm: Crm) -> None:
    _, token = crm.access.create_user("Ромашка", "tokens@example.com", None)
    user = crm.access.authenticate(token)
    assert user is not None

    with pytest.raises(ValidationFailed, match="current_password"):
        crm.access.change_own_password(user, ChangeOwnPassword("", "new-password"))


def test_given_a_user_with_tokens_when_an_admin_deactivates_them_then_every_token_ends(
    crm: Crm, anna: Actor
) -> None:
    user_id = crm.access.add_user(anna, AddUser("pavel@example.com", password="password1"))
    token = crm.access.log_in("pavel@example.com", "password1")
    assert token is not None

    crm.access.update_user(anna, user_id, ChangeUser(is_active=False))
    crm.access.update_user(anna, user_id, ChangeUser(is_active=True))

    assert crm.access.authenticate(token) is None
    assert crm.access.log_in("pavel@example.com", "password1") is not None


def test_given_a_change_of_name_or_role_then_the_users_tokens_last(crm: Crm, anna: Actor) -> None:
    user_id = crm.access.add_user(anna, AddUser("pavel@example.com", password="password1"))
    token = crm.access.log_in("pavel@example.com", "password1")
    assert token is not None
    crm.clock.advance(hours=1)

    crm.access.update_user(anna, user_id, ChangeUser(full_name="Павел", role=Role.ADMIN))

    pavel = crm.access.authenticate(token)
    assert pavel is not None and pavel.role is Role.ADMIN
    with crm.read() as uow:
        user = uow.users.get(anna.company_id, user_id)
    assert (user.full_name, user.updated_at) == ("Павел", crm.clock.now())


def test_nobody_deactivates_or_demotes_themselves(crm: Crm, anna: Actor) -> None:
    with pytest.raises(Conflict):
        crm.access.update_user(anna, anna.user_id, ChangeUser(is_active=False))
    with pytest.raises(Conflict):
        crm.access.update_user(anna, anna.user_id, ChangeUser(role=Role.MANAGER))
    crm.access.update_user(anna, anna.user_id, ChangeUser(role=Role.ADMIN, full_name="Анна"))


def test_given_fields_over_their_limits_then_users_and_branches_name_the_field(
    crm: Crm, anna: Actor
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        crm.access.add_user(anna, AddUser("not an email", full_name="я" * 256))
    assert sorted(refused.value.errors) == ["email", "full_name"]

    with pytest.raises(ValidationFailed) as refused:
        crm.access.create_branch(anna, CreateBranch("Ц" * 256))
    assert list(refused.value.errors) == ["name"]

    branch_id = crm.access.create_branch(anna, CreateBranch("Центр"))
    with pytest.raises(ValidationFailed, match="name"):
        crm.access.update_branch(anna, branch_id, ChangeBranch(name="  "))
    user_id = crm.access.add_user(anna, AddUser("pavel@example.com"))
    with pytest.raises(ValidationFailed, match="full_name"):
        crm.access.update_user(anna, user_id, ChangeUser(full_name="я" * 256))


def test_given_a_taken_email_when_an_admin_adds_a_user_then_400_on_email(
    crm: Crm, anna: Actor
) -> None:
    crm.access.add_user(anna, AddUser("Pavel@example.com"))

    with pytest.raises(ValidationFailed) as refused:
        crm.access.add_user(anna, AddUser("pavel@EXAMPLE.com"))

    assert list(refused.value.errors) == ["email"]


def test_a_branch_change_leaves_unnamed_fields_alone_and_sets_updated_at(
    crm: Crm, anna: Actor
) -> None:
    branch_id = crm.access.create_branch(anna, CreateBranch("Центр", address="Тверская, 1"))
    crm.clock.advance(days=1)

    crm.access.update_branch(anna, branch_id, ChangeBranch(name="Север"))

    with crm.read() as uow:
        branch = uow.branches.get(anna.company_id, branch_id)
    assert (branch.name, branch.address, branch.is_active) == ("Север", "Тверская, 1", True)
    assert branch.updated_at == crm.clock.now() != branch.created_at


def test_only_an_active_user_can_own_records() -> None:
    user = User.register(CompanyId(new_id()), "anna@example.com", "", T0)
    user.ensure_can_own()

    user.is_active = False

    with pytest.raises(ValidationFailed) as refused:
        user.ensure_can_own()
    assert list(refused.value.errors) == ["owner"]
