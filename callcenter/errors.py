"""The project's exception tree.

Messages say what happened, to which id, what was expected and what arrived. Tests compare the
text exactly, so changing a message is a visible change.
"""

from __future__ import annotations

from typing import Any


class CallCtlError(Exception):
    """Base of every error the control plane raises on purpose."""


class ConfigError(CallCtlError):
    """A setting, a flow, a rule file or another piece of configuration is invalid."""


class ProtocolError(CallCtlError):
    """A wire protocol (AMI, AGI) was violated."""


class RemoteProtocolError(ProtocolError):
    """The peer (Asterisk, or a FastAGI client) sent something we cannot accept."""


class LocalProtocolError(ProtocolError):
    """We were asked to send something the protocol does not allow."""


class IllegalTransition(CallCtlError):
    """A state machine was given an event its current state has no transition for."""


class DomainError(CallCtlError):
    """An error with a stable id, for APIs (Wazo-style): `error_id` never changes once released."""

    def __init__(self, error_id: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": self.message, "details": self.details}
