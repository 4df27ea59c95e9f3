"""Who works in the CRM: companies (tenants), their users, branches and API tokens."""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime

import attrs

from crm_core.errors import Conflict, PermissionDenied
from crm_core.values import BranchId, CompanyId, UserId, new_id


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

    def change(
        self,
        by: Actor,
        now: datetime,
        *,
        full_name: str | None = None,
        role: Role | None = None,
        is_active: bool | None = None,
    ) -> None:
        """An admin's change; nobody may demote or deactivate themselves (no lock-out)."""
        by.require_admin("manage users")
        if by.user_id == self.id and (
            (role is not None and role != self.role) or is_active is False
        ):
            raise Conflict("You cannot change your own role or deactivate yourself.")
        if full_name is not None:
            self.full_name = full_name
        if role is not None:
            self.role = Role(role)
        if is_active is not None:
            self.is_active = is_active
        self.updated_at = now


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
