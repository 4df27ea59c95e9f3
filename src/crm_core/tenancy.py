"""Who works in the CRM: companies (tenants), their users, branches and API tokens."""

from __future__ import annotations

import enum
import hashlib
import math
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import attrs

from crm_core.commands import UNSET, Maybe
from crm_core.errors import (
    Conflict,
    FieldErrors,
    PermissionDenied,
    TooManyAttempts,
    ValidationFailed,
)
from crm_core.values import (
    NAME_LENGTH,
    BranchId,
    CompanyId,
    UserId,
    bounded_text,
    new_id,
    normalize_email,
    required_text,
)

if TYPE_CHECKING:
    from crm_core.ports import PasswordHasher


class Role(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"


@attrs.define(slots=False, eq=False)
class Company:
    name: str
    default_region: str = "RU"
    id: CompanyId = attrs.field(factory=lambda: CompanyId(new_id()))
    created_at: datetime | None = None


@attrs.define(slots=False, eq=False)
class User:
    company_id: CompanyId
    email: str
    password_hash: str
    role: Role = Role.MANAGER
    full_name: str = ""
    is_active: bool = True
    id: UserId = attrs.field(factory=lambda: UserId(new_id()))
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def register(
        cls,
        company_id: CompanyId,
        email: str,
        password_hash: str,
        now: datetime,
        *,
        role: Role = Role.MANAGER,
        full_name: str = "",
        is_active: bool = True,
    ) -> User:
        """A new user; the email is stored normalized (sign-in ignores its case). An empty
        `password_hash` makes a user who signs in with tokens only."""
        errors = FieldErrors()
        with errors.field("email"):
            email = normalize_email(email)
        with errors.field("full_name"):
            bounded_text(full_name, NAME_LENGTH)
        errors.raise_if_any()
        return cls(
            company_id=company_id,
            email=email,
            password_hash=password_hash,
            role=Role(role),
            full_name=full_name,
            is_active=is_active,
            created_at=now,
            updated_at=now,
        )

    def change(
        self,
        by: Actor,
        now: datetime,
        *,
        full_name: Maybe[str] = UNSET,
        role: Maybe[Role] = UNSET,
        is_active: Maybe[bool] = UNSET,
        password_hash: Maybe[str] = UNSET,
    ) -> bool:
        """An admin's change; nobody may demote or deactivate themselves (no lock-out).

        Returns whether the change signs the user out everywhere (every token they hold must
        end): a deactivation or a new password does.
        """
        by.require_admin("manage users")
        if by.user_id == self.id and (
            (role is not UNSET and role != self.role) or is_active is False
        ):
            raise Conflict("You cannot change your own role or deactivate yourself.")
        errors = FieldErrors()
        if full_name is not UNSET:
            with errors.field("full_name"):
                bounded_text(full_name, NAME_LENGTH)
        errors.raise_if_any()
        if full_name is not UNSET:
            self.full_name = full_name
        if role is not UNSET:
            self.role = Role(role)
        if is_active is not UNSET:
            self.is_active = is_active
        if password_hash is not UNSET:
            self.password_hash = password_hash
        self.updated_at = now
        return is_active is False or password_hash is not UNSET

    def change_own_password(
        self, current_password: str, new_password: str, hasher: PasswordHasher, now: datetime
    ) -> None:
        """The user's own change: they prove they know the current password first (a stolen
        session alone cannot take the account over)."""
        if not self.password_hash or not hasher.verify(self.password_hash, current_password):
            raise ValidationFailed.on("current_password", "The current password is not correct.")
        self.password_hash = hasher.hash(new_password)
        self.updated_at = now

    @property
    def can_log_in(self) -> bool:
        """Whether a password can sign this user in at all."""
        return self.is_active and bool(self.password_hash)

    def ensure_can_own(self) -> None:
        """An owner of a contact, lead or deal is an active user (of the caller's company: the
        repository's lookup sees to that)."""
        if not self.is_active:
            raise ValidationFailed.on("owner", "This user is deactivated and cannot own records.")


@attrs.frozen
class Actor:
    """The authenticated caller of a use case: every read and write is scoped to its company."""

    user_id: UserId
    company_id: CompanyId
    role: Role

    def require_admin(self, action: str) -> None:
        if self.role != Role.ADMIN:
            raise PermissionDenied(f"Only an admin may {action}.")


@attrs.define(slots=False, eq=False)
class Branch:
    company_id: CompanyId
    name: str
    address: str = ""
    is_active: bool = True
    id: BranchId = attrs.field(factory=lambda: BranchId(new_id()))
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def open(
        cls,
        company_id: CompanyId,
        name: str,
        now: datetime,
        *,
        address: str = "",
        is_active: bool = True,
    ) -> Branch:
        """A new branch, its fields checked as a change checks them."""
        branch = cls(company_id=company_id, name="", created_at=now)
        branch.change(now, name=name, address=address, is_active=is_active)
        return branch

    def change(
        self,
        now: datetime,
        *,
        name: Maybe[str] = UNSET,
        address: Maybe[str] = UNSET,
        is_active: Maybe[bool] = UNSET,
    ) -> None:
        errors = FieldErrors()
        if name is not UNSET:
            with errors.field("name"):
                required_text(name, NAME_LENGTH)
        if address is not UNSET:
            with errors.field("address"):
                bounded_text(address)
        errors.raise_if_any()
        if name is not UNSET:
            self.name = name
        if address is not UNSET:
            self.address = address
        if is_active is not UNSET:
            self.is_active = is_active
        self.updated_at = now


TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    """Tokens are random, so one fast hash suffices; only the hash is ever stored."""
    return hashlib.sha256(token.encode()).hexdigest()


@attrs.define(slots=False, eq=False)
class ApiToken:
    user_id: UserId
    token_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    id: object = attrs.field(factory=new_id)

    @classmethod
    def issue(cls, user_id: UserId, now: datetime) -> tuple[ApiToken, str]:
        """A new token and its secret text, which is shown once and never stored."""
        secret = secrets.token_urlsafe(TOKEN_BYTES)
        return cls(user_id=user_id, token_hash=hash_token(secret), created_at=now), secret

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


@attrs.frozen
class Credential:
    """A token as a request presents it, read together with its user in one go: whether it
    admits the caller is the rule below, wherever it was read."""

    user_id: UserId
    company_id: CompanyId
    role: Role
    user_is_active: bool
    revoked_at: datetime | None

    def actor(self) -> Actor | None:
        """The caller, while the token is not revoked and its user is active."""
        if self.revoked_at is not None or not self.user_is_active:
            return None
        return Actor(user_id=self.user_id, company_id=self.company_id, role=self.role)


# --- password guessing ---------------------------------------------------------------------

ADDRESS_LENGTH = 64  # an IPv6 address with a zone fits


@attrs.frozen
class LoginThrottle:
    """The rule against password guessing: once an email has `per_email` failed sign-ins
    within `window` (or a client address `per_address`), sign-in is refused, before any
    password is looked at, until the oldest of those failures leaves the window.

    A refused attempt is not a failure: it does not push the end of the wait further away.
    """

    per_email: int = 10
    per_address: int = 50
    window: timedelta = timedelta(minutes=15)

    def counts_after(self, now: datetime) -> datetime:
        """Failures after this moment count; older ones may be forgotten."""
        return now - self.window

    def refuse_if_exceeded(
        self,
        now: datetime,
        email_failures: Sequence[datetime],
        address_failures: Sequence[datetime],
    ) -> None:
        """Raises TooManyAttempts with the seconds until both counts are under their limits."""
        wait = max(
            self._wait(email_failures, self.per_email, now),
            self._wait(address_failures, self.per_address, now),
        )
        if wait:
            raise TooManyAttempts(wait)

    def _wait(self, failures: Sequence[datetime], limit: int, now: datetime) -> int:
        start = self.counts_after(now)
        counted = sorted((at for at in failures if at > start), reverse=True)
        if len(counted) < limit:
            return 0
        # When the limit-th newest failure leaves the window, one fewer than the limit remain.
        frees_at = counted[limit - 1] + self.window
        return max(1, math.ceil((frees_at - now).total_seconds()))

    @staticmethod
    def address_key(address: str | None) -> str:
        """The client address as counted (an unknown one counts as one address)."""
        return (address or "")[:ADDRESS_LENGTH]
