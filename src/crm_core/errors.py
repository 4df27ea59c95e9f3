"""The domain's errors: the one vocabulary the adapters translate (HTTP maps it in one table)."""

from __future__ import annotations

import enum
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


class Rule(enum.StrEnum):
    """Which state of a lead or deal a Conflict found in the way, for an adapter that says it
    in its own words (the web app, in Russian)."""

    LEAD_CONVERTED = "lead_converted"
    LEAD_LOST = "lead_lost"
    LEAD_OPEN = "lead_open"
    LEAD_INTO_SUCCESS = "lead_into_success_stage"  # a success stage is reached by conversion
    DEAL_WON = "deal_won"
    DEAL_LOST = "deal_lost"
    DEAL_OPEN = "deal_open"


class Conflict(DomainError):
    """A domain rule refuses the change; `detail` says which rule, and `rule` names it where
    an adapter may need to tell it apart."""

    def __init__(self, detail: str, rule: Rule | None = None) -> None:
        super().__init__(detail)
        self.rule = rule


class NotAuthenticated(DomainError):
    """The caller's credential is missing or wrong (a webhook's secret, say)."""


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
    """The messaging provider refused or could not be reached.

    `outcome_unknown`: the request may have reached the provider and been acted on (a
    timeout, a connection dropped after the request was sent, a 5xx): a send failed this
    way can still be settled by the provider's echo or a status.
    """

    outcome_unknown = False


class ProviderTimedOut(ProviderFailed):
    """The messaging provider did not answer in time (it may have taken the request)."""

    outcome_unknown = True


class ProviderUnreachable(ProviderFailed):
    """The provider could not be reached, or the connection broke before its answer.

    `dropped`: the request was sent and the connection dropped (the provider may have acted
    on it); otherwise it never left (a refused connection, a name that does not resolve).
    """

    def __init__(self, detail: str, *, dropped: bool = False, status: int | None = None) -> None:
        super().__init__(detail)
        self.outcome_unknown = dropped
        self.status = status


class ProviderRateLimited(ProviderFailed):
    """The provider kept answering 429: wait before asking again (at least `retry_after`
    seconds)."""

    def __init__(
        self, detail: str = "The provider is rate limiting (429).", retry_after: float = 5.0
    ) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


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

    def is_code(self, code: str) -> bool:
        """Whether the provider's code is `code`, whatever its casing or underscores (Wazzup
        writes one code as `REPEATED_CRM_MESSAGE_ID` and as `repeatedCrmMessageId`)."""
        return _code_words(self.code) == _code_words(code)


def _code_words(code: str) -> str:
    return code.replace("_", "").lower()


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
