"""The domain's errors: the one vocabulary the adapters translate (HTTP maps it in one table)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm_core.values import MessageId


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidValue(DomainError, ValueError):
    """A value object refused its input (the caller knows which field it was)."""


class ValidationFailed(DomainError):
    """Input that breaks a rule, with messages per dotted field path."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {field: list(messages) for field, messages in errors.items()}
        super().__init__(
            "; ".join(f"{field}: {messages[0]}" for field, messages in self.errors.items())
        )

    @classmethod
    def on(cls, field: str, message: str) -> ValidationFailed:
        return cls({field: [message]})


class NotFound(DomainError):
    """The object does not exist in the caller's company (its existence is never revealed)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} not found.")
        self.kind = kind


class Conflict(DomainError):
    """A domain rule refuses the change; `detail` says which rule."""


class PermissionDenied(DomainError):
    """The caller is known but their role does not allow the action."""


class TooManyAttempts(DomainError):
    """Too many failed attempts (password guessing): refused unexamined for `retry_after`
    seconds, until the oldest counted failure leaves the window."""

    def __init__(
        self,
        retry_after: int,
        detail: str = "Too many failed sign-in attempts; try again later.",
    ) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ProviderFailed(DomainError):
    """The messaging provider refused or could not be reached."""


class ProviderTimedOut(ProviderFailed):
    """The messaging provider did not answer in time."""


class ProviderRefused(ProviderFailed):
    """The provider answered with a refusal (a 4xx): its code and description, kept on the
    message as its error."""

    def __init__(
        self, code: str, description: str = "", status: int | None = None, detail: str = ""
    ) -> None:
        words = f"The provider refused: {code}" + (f" ({description})" if description else "")
        super().__init__(detail or words)
        self.code = code
        self.description = description
        self.status = status


class ProviderRejectedKey(ProviderRefused):
    """The provider does not accept the account's API key (HTTP 401)."""

    def __init__(self, description: str = "The API key was rejected.") -> None:
        super().__init__(
            "UNAUTHORIZED", description, 401, detail="The provider rejected the API key (401)."
        )


class MessageNotSent(ProviderFailed):
    """A send failed; the message is stored as `failed` and `message_id` names it."""

    def __init__(self, message_id: MessageId, cause: ProviderFailed) -> None:
        super().__init__(cause.detail)
        self.message_id = message_id
        self.cause = cause

    @classmethod
    def of(cls, message_id: MessageId, cause: ProviderFailed) -> MessageNotSent:
        """The error for `cause`; a timeout stays recognisable as one (a 504, not a 502)."""
        if isinstance(cause, ProviderTimedOut):
            return MessageSendTimedOut(message_id, cause)
        return cls(message_id, cause)


class MessageSendTimedOut(MessageNotSent, ProviderTimedOut):
    """A send that timed out: not retried (the provider may have taken it), kept failed."""


class FieldErrors:
    """Collects the errors of several fields so that one answer names them all."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    @contextmanager
    def field(self, name: str) -> Iterator[None]:
        try:
            yield
        except InvalidValue as error:
            self.add(name, error.detail)
        except ValidationFailed as error:
            for sub, messages in error.errors.items():
                self.errors.setdefault(sub, []).extend(messages)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)
