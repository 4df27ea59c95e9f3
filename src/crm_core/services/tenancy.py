"""Companies, users, tokens and branches: who may do what, and where."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from crm_core.errors import Conflict, FieldErrors, InvalidValue, ValidationFailed
from crm_core.ports import Clock, PasswordHasher
from crm_core.services.base import UnitOfWorkFactory, UseCases
from crm_core.tenancy import Actor, ApiToken, Branch, Company, Role, User, hash_token
from crm_core.values import BranchId, UserId, normalize_email

BRANCH_FIELDS = ("name", "address", "is_active")


class AccessUseCases(UseCases):
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        default_region: str = "RU",
    ) -> None:
        super().__init__(uow, clock)
        self.hasher = hasher
        self.default_region = default_region
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
            user = User(
                company_id=company.id,
                email=address,
                # Without a password the user can sign in with tokens only.
                password_hash=self.hasher.hash(password) if password else "",
                role=role,
                full_name=full_name,
                created_at=now,
                updated_at=now,
            )
            uow.users.save(user)
            token, secret = ApiToken.issue(user.id, now)
            uow.tokens.save(token)
            uow.commit()
            return user.id, secret

    def add_user(self, actor: Actor, fields: Mapping[str, Any]) -> UserId:
        """An admin adds a user to their own company."""
        actor.require_admin("manage users")
        errors = FieldErrors()
        with errors.field("email"):
            address = normalize_email(str(fields["email"]))
        errors.raise_if_any()
        with self.uow() as uow:
            if uow.users.by_email(address) is not None:
                raise ValidationFailed.on("email", "A user with this email already exists.")
            now = self.clock.now()
            password = fields.get("password")
            user = User(
                company_id=actor.company_id,
                email=address,
                password_hash=self.hasher.hash(password) if password else "",
                role=Role(fields.get("role", Role.MANAGER)),
                full_name=fields.get("full_name", ""),
                is_active=fields.get("is_active", True),
                created_at=now,
                updated_at=now,
            )
            uow.users.save(user)
            uow.commit()
            return user.id

    def update_user(self, actor: Actor, user_id: UserId, fields: Mapping[str, Any]) -> None:
        actor.require_admin("manage users")
        with self.uow() as uow:
            user = uow.users.get(actor.company_id, user_id)
            now = self.clock.now()
            user.change(
                actor,
                now,
                full_name=fields.get("full_name"),
                role=fields.get("role"),
                is_active=fields.get("is_active"),
            )
            if fields.get("password"):
                user.password_hash = self.hasher.hash(fields["password"])
                # A new password signs the user out everywhere: every token they hold ends.
                for token in uow.tokens.of_user(user.id):
                    token.revoke(now)
                    uow.tokens.save(token)
            uow.users.save(user)
            uow.commit()

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

    def log_in(self, email: str, password: str) -> str | None:
        """A new token for the right e-mail and password; None for anything else."""
        try:
            address = normalize_email(email)
        except InvalidValue:
            return None
        with self.uow() as uow:
            user = uow.users.by_email(address)
            if user is None or not user.is_active or not user.password_hash:
                # Unknown addresses cost a hash check too, so timing does not tell them apart.
                self.hasher.verify(self._decoy_hash(), password)
                return None
            if not self.hasher.verify(user.password_hash, password):
                return None
            token, secret = ApiToken.issue(user.id, self.clock.now())
            uow.tokens.save(token)
            uow.commit()
            return secret

    def authenticate(self, secret: str) -> Actor | None:
        with self.uow() as uow:
            token = uow.tokens.by_hash(hash_token(secret))
            if token is None or not token.is_active:
                return None
            user = uow.users.find(token.user_id)
            if user is None or not user.is_active:
                return None
            return Actor(user_id=user.id, company_id=user.company_id, role=user.role)

    def revoke_token(self, secret: str) -> None:
        with self.uow() as uow:
            token = uow.tokens.by_hash(hash_token(secret))
            if token is not None:
                token.revoke(self.clock.now())
                uow.tokens.save(token)
                uow.commit()

    def create_branch(self, actor: Actor, fields: Mapping[str, Any]) -> BranchId:
        with self.uow() as uow:
            now = self.clock.now()
            branch = Branch(company_id=actor.company_id, name=fields["name"])
            branch.created_at = now
            self._apply(branch, fields, now)
            uow.branches.save(branch)
            uow.commit()
            return branch.id

    def update_branch(self, actor: Actor, branch_id: BranchId, fields: Mapping[str, Any]) -> None:
        with self.uow() as uow:
            branch = uow.branches.get(actor.company_id, branch_id)
            self._apply(branch, fields, self.clock.now())
            uow.branches.save(branch)
            uow.commit()

    def delete_branch(self, actor: Actor, branch_id: BranchId) -> None:
        with self.uow() as uow:
            uow.branches.delete(uow.branches.get(actor.company_id, branch_id))
            uow.commit()

    @staticmethod
    def _apply(branch: Branch, fields: Mapping[str, Any], now: Any) -> None:
        for name in BRANCH_FIELDS:
            if name in fields:
                setattr(branch, name, fields[name])
        branch.updated_at = now
