"""Request bodies of the CTI API (REST and WebSocket share them), validated with pydantic.

Every model forbids unknown fields, so a typo in a field name is an error that names the field
rather than a silently ignored value. `validate` turns pydantic's errors into one
`DomainError("invalid-request")` whose message names the field and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from callcenter.errors import DomainError

ID = r"^[A-Za-z0-9_.:;@+-]{1,128}$"
NUMBER = r"^\+?[0-9*#]{1,32}$"
TARGET = r"^[A-Za-z0-9_.+-]{1,64}$"
INTERFACE = r"^[A-Za-z]+/[A-Za-z0-9_.@+-]{1,64}$"
REASON = r"^[^\x00-\x1f\x7f]{0,64}$"  # one line of text: reasons end up in log lines


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Empty(Strict):
    pass


class Login(Strict):
    interface: str | None = Field(default=None, pattern=INTERFACE)


class Credentials(Strict):
    username: str = Field(min_length=1, max_length=64)
    # Kept as typed: spaces around a password are part of it (the hash was made with them).
    password: Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=256)]


class NotReady(Strict):
    reason: str = Field(default="", pattern=REASON)


class CallRef(Strict):
    call_id: str = Field(pattern=ID)


class Transfer(Strict):
    call_id: str = Field(pattern=ID)
    kind: Literal["blind", "attended"]
    to: Literal["agent", "queue", "number"]
    target: str = Field(pattern=TARGET)

    @field_validator("target")
    @classmethod
    def number_is_dialable(cls, target: str, info: ValidationInfo) -> str:
        # A number becomes the exten the caller is sent to in the dialplan: digits only, so an
        # agent cannot type an extension or pattern of another context.
        if info.data.get("to") == "number" and not re.fullmatch(NUMBER, target):
            raise PydanticCustomError("number", "a number must be 1 to 32 digits, * or #, optionally after a +")
        return target


class WrapUp(Strict):
    call_id: str = Field(pattern=ID)
    disposition: str = Field(min_length=1, max_length=64)
    notes: str = Field(default="", max_length=4000)


class Callback(Strict):
    call_id: str | None = Field(default=None, pattern=ID)
    number: str = Field(pattern=NUMBER)
    not_before: float | None = None
    notes: str = Field(default="", max_length=4000)


class ForceState(Strict):
    agent_id: str = Field(pattern=ID)
    state: Literal["ready", "not-ready", "logged-out"]
    reason: str = Field(default="", pattern=REASON)


class Spy(Strict):
    agent_id: str = Field(pattern=ID)
    mode: Literal["listen", "whisper", "barge"]
    phone: str | None = Field(default=None, pattern=INTERFACE)


class PreviewRef(Strict):
    contact_id: str = Field(pattern=ID)


# action name -> (request model, supervisor only)
ACTIONS: dict[str, tuple[type[Strict], bool]] = {
    "login": (Login, False),
    "logout": (Empty, False),
    "ready": (Empty, False),
    "not-ready": (NotReady, False),
    "answer": (CallRef, False),
    "hold": (CallRef, False),
    "unhold": (CallRef, False),
    "hangup": (CallRef, False),
    "transfer": (Transfer, False),
    "wrap-up": (WrapUp, False),
    "callback": (Callback, False),
    "force-state": (ForceState, True),
    "spy": (Spy, True),
    "preview-call": (PreviewRef, False),
    "preview-skip": (PreviewRef, False),
}


def validate(model: type[Strict], data: Any, action: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(action, exc.errors()) from None


def invalid(action: str, errors: Sequence[Any]) -> DomainError:
    """One `invalid-request` error naming every field and its problem (`loc` without "body")."""
    problems = []
    for error in errors:
        where = ".".join(str(p) for p in error["loc"] if p != "body") or "(body)"
        problems.append(f"{where}: {error['msg']}")
    return DomainError(
        "invalid-request", f"{action}: " + "; ".join(problems), action=action, fields=[p.split(":")[0] for p in problems]
    )
