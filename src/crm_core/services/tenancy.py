"""Companies, users, tokens and branches: who may do what, and where."""

from __future__ import annotations

import secrets
from datetime import datetime

import attrs

from crm_core.commands import UNSET, Maybe
from crm_core.errors import Conflict, InvalidValue, ValidationFailed
from crm_core.ports import Clock, CredentialReader, PasswordHasher, UnitOfWork
from crm_core.services.base import UnitOfWorkFactory, UseCases
from crm_core.tenancy import (
    Actor,
    ApiToken,
    Branch,
    Company,
    Credential,
    LoginThrottle,
    Role,
    User,
    hash_token,
)
from crm_core.values import BranchId, UserId, normalize_email

__all__ = [
    "AccessUseCases",
    "AddUser",
    "ChangeBranch",
    "ChangeOwnPassword",
    "ChangeUser",
    "CreateBranch",
]


# --- commands ------------------------------------------------------------------------------


@attrs.frozen
class AddUser:
    """An admin adds a user to their company; without a password the user has tokens only."""

    email: str
    password: str | None = None
    role: Role = Role.MANAGER
    full_name: str = ""
    is_active: bool = True


@attrs.frozen
class ChangeUser:
    """An admin's change of a user; a new password or a deactivation signs them out."""

    full_name: Maybe[str] = UNSET
    role: Maybe[Role] = UNSET
    is_active: Maybe[bool] = UNSET
    password: Maybe[str] = UNSET


@attrs.frozen
class ChangeOwnPassword:
    """A user's change of their own password, proved by the current one."""

    current_password: str
    password: str


@attrs.frozen
class CreateBranch:
    name: str
    address: str = ""
    is_active: bool = True


@attrs.frozen
class ChangeBranch:
    name: Maybe[str] = UNSET
    address: Maybe[str] = UNSET
    is_active: Maybe[bool] = UNSET


# --- use cases -----------------------------------------------------------------------------


@attrs.frozen
class CredentialsInUnitOfWork:
    """A CredentialReader through the repositories (an adapter may read it in one
    statement instead)."""

    uow: UnitOfWorkFactory

    def credential(self, token_hash: str) -> Credential | None:
        with self.uow() as uow:
            token = uow.tokens.by_hash(token_hash)
            user = None if token is None else uow.users.find(token.user_id)
            if token is None or user is None:
                return None
            return Credential(
                user_id=user.id,
                company_id=user.company_id,
                role=user.role,
                user_is_active=user.is_active,
                revoked_at=token.revoked_at,
            )


class AccessUseCases(UseCases):
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        default_region: str = "RU",
        throttle: LoginThrottle | None = None,
        credentials: CredentialReader | None = None,
    ) -> None:
        super().__init__(uow, clock)
        self.hasher = hasher
        self.default_region = default_region
        self.throttle = throttle or LoginThrottle()
        self.credentials = credentials or CredentialsInUnitOfWork(uow)
        self._decoy: str | None = None

    def create_user(
        self,
        company_name: str,
        email: str,
        password: str | None,
        role: Role = Role.MANAGER,
        full_name: str = "",
    ) -> tuple[UserId, str]:
        """A user (and their company when it is new) with a first API token."""
        address = normalize_email(email)
        with self.uow() as uow:
            if uow.users.by_email(address) is not None:
                raise Conflict(f"A user with the email {address} already exists.")
            now = self.clock.now()
            company = uow.companies.by_name(company_name)
            if company is None:
                company = Company(
                    name=company_name, default_region=self.default_region, created_at=now
                )
                uow.companies.save(company)
            user = User.register(
                company.id,
                address,
                self._hash(password),
                now,
                role=role,
                full_name=full_name,
            )
            uow.users.save(user)
            token, secret = ApiToken.issue(user.id, now)
            uow.tokens.save(token)
            uow.commit()
            return user.id, secret

    def add_user(self, actor: Actor, command: AddUser) -> UserId:
        """An admin adds a user to their own company."""
        actor.require_admin("manage users")
        with self.uow() as uow:
            user = User.register(
                actor.company_id,
                command.email,
                self._hash(command.password),
                self.clock.now(),
                role=command.role,
                full_name=command.full_name,
                is_active=command.is_active,
            )
            if uow.users.by_email(user.email) is not None:
                raise ValidationFailed.on("email", "A user with this email already exists.")
            uow.users.save(user)
            uow.commit()
            return user.id

    def update_user(self, actor: Actor, user_id: UserId, command: ChangeUser) -> None:
        """An admin's change; deactivating a user or setting their password ends their tokens."""
        actor.require_admin("manage users")
        with self.uow() as uow:
            user = uow.users.get(actor.company_id, user_id)
            now = self.clock.now()
            signs_out = user.change(
                actor,
                now,
                full_name=command.full_name,
                role=command.role,
                is_active=command.is_active,
                password_hash=(
                    self._hash(command.password) if command.password is not UNSET else UNSET
                ),
            )
            if signs_out:
                self._revoke_tokens(uow, user.id, now)
            uow.users.save(user)
            uow.commit()

    def change_own_password(
        self, actor: Actor, command: ChangeOwnPassword, keep_token: str | None = None
    ) -> None:
        """Any user's change of their own password. Every other token of theirs ends; the
        one whose secret is `keep_token` (the request's own) stays valid."""
        with self.uow() as uow:
            user = uow.users.get(actor.company_id, actor.user_id)
            now = self.clock.now()
            user.change_own_password(command.current_password, command.password, self.hasher, now)
            kept = hash_token(keep_token) if keep_token else None
            self._revoke_tokens(uow, user.id, now, keep_hash=kept)
            uow.users.save(user)
            uow.commit()

    def _hash(self, password: str | None) -> str:
        # Without a password the user can sign in with tokens only.
        return self.hasher.hash(password) if password else ""

    @staticmethod
    def _revoke_tokens(
        uow: UnitOfWork, user_id: UserId, now: datetime, keep_hash: str | None = None
    ) -> None:
        for token in uow.tokens.of_user(user_id):
            if token.token_hash != keep_hash:
                token.revoke(now)
                uow.tokens.save(token)

    def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._decoy

    def issue_token(self, email: str) -> str:
        with self.uow() as uow:
            user = uow.users.by_email(normalize_email(email))
            if user is None:
                raise ValidationFailed.on("email", "No user has this email.")
            token, secret = ApiToken.issue(user.id, self.clock.now())
            uow.tokens.save(token)
            uow.commit()
            return secret

    def log_in(self, email: str, password: str, client_address: str | None = None) -> str | None:
        """A new token for the right e-mail and password; None for anything else.

        Raises TooManyAttempts, before any password hash is computed, while the email or the
        client address has too many recent failures (`LoginThrottle`). Each failure is
        recorded, for unknown emails too (so that the throttle does not tell which exist); a
        successful sign-in forgets the email's failures.
        """
        address = self.throttle.address_key(client_address)
        try:
            email = normalize_email(email)
        except InvalidValue:
            email = ""  # no such user can exist: only the address is counted
        with self.uow() as uow:
            now = self.clock.now()
            since = self.throttle.counts_after(now)
            failures = uow.failed_logins
            self.throttle.refuse_if_exceeded(
                now,
                failures.times_for_email(email, since, self.throttle.per_email) if email else [],
                failures.times_from_address(address, since, self.throttle.per_address),
            )
            if not email:
                return None
            user = uow.users.by_email(email)
            if user is None or not user.can_log_in:
                # Unknown addresses cost a hash check too, so timing does not tell them apart.
                self.hasher.verify(self._decoy_hash(), password)
                user = None
            elif not self.hasher.verify(user.password_hash, password):
                user = None
            if user is None:
                failures.add(email, address, now, forget_before=since)
                uow.commit()
                return None
            failures.clear_email(email)
            token, secret = ApiToken.issue(user.id, now)
            uow.tokens.save(token)
            uow.commit()
            return secret

    def authenticate(self, secret: str) -> Actor | None:
        credential = self.credentials.credential(hash_token(secret))
        return None if credential is None else credential.actor()

    def revoke_token(self, secret: str) -> None:
        with self.uow() as uow:
            token = uow.tokens.by_hash(hash_token(secret))
            if token is not None:
                token.revoke(self.clock.now())
                uow.tokens.save(token)
                uow.commit()

    def create_branch(self, actor: Actor, command: CreateBranch) -> BranchId:
        with self.uow() as uow:
            branch = Branch.open(
                actor.company_id,
                command.name,
                self.clock.now(),
                address=command.address,
                is_active=command.is_active,
            )
            uow.branches.save(branch)
            uow.commit()
            return branch.id

    def update_branch(self, actor: Actor, branch_id: BranchId, command: ChangeBranch) -> None:
        with self.uow() as uow:
            branch = uow.branches.get(actor.company_id, branch_id)
            branch.change(
                self.clock.now(),
                name=command.name,
                address=command.address,
                is_active=command.is_active,
            )
            uow.branches.save(branch)
            uow.commit()

    def delete_branch(self, actor: Actor, branch_id: BranchId) -> None:
        with self.uow() as uow:
            uow.branches.delete(uow.branches.get(actor.company_id, branch_id))
            uow.commit()
