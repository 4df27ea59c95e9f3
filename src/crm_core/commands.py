"""Typed commands: what a caller asks a use case to do, as frozen attrs classes.

A field left `UNSET` is not part of the request (a PATCH that does not name it); `None` is
a value (an owner cleared). A PUT is a command with every optional field set: the edge fills
in the defaults the body leaves out.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar, Union

import attrs

T = TypeVar("T")


class Unset(enum.Enum):
    """The one marker for "not given"; falsy so that `if command.x:` reads naturally."""

    UNSET = "UNSET"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset.UNSET

# A command field that may be left out: `Maybe[Money]` is a Money or UNSET.
Maybe = Union[T, Unset]  # noqa: UP007 (a generic alias needs Union on Python 3.11)


def set_fields(command: Any) -> dict[str, Any]:
    """The fields of `command` that were set: the part of it that changes something."""
    return {
        field.name: getattr(command, field.name)
        for field in attrs.fields(type(command))
        if getattr(command, field.name) is not UNSET
    }
