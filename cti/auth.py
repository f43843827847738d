"""Who is calling the CTI server: accounts, signed session tokens, roles and the login limiter.

* Accounts live in the CRM (`agents` table: argon2id hashes, roles agent / supervisor / admin);
  `AccountStore` is the port, `CrmAccounts` the CRM adapter.
* A session is a token `<payload>.<signature>`: the payload is base64url JSON (subject, role,
  interface, token id, expiry), the signature HMAC-SHA256 with `http.session_secret`. Tokens are
  checked on every request and every WebSocket connect; a logged-out token id is remembered until
  it would have expired anyway.
* Failed logins are counted per (username, client address) in a sliding minute; past the limit
  the next attempt is refused with `too-many-logins` and a `retry_after_s`, before any password
  is checked. A successful login clears the count.
* Nothing sensitive is logged: no password, no token, only the username and the outcome.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.errors import DomainError
from callcenter.events import AgentId

logger = logging.getLogger(__name__)

ROLES = ("agent", "supervisor", "admin")


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    agent_id: AgentId
    username: str
    name: str
    role: str
    interface: str = ""

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")


class AccountStore(Protocol):
    async def authenticate(self, username: str, password: str) -> Account | None: ...


class CrmAccounts:
    """Accounts from the CRM's `agents` table."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def authenticate(self, username: str, password: str) -> Account | None:
        from crm.repositories import authenticate

        # NOTE(cti): the argon2 check inside takes tens of milliseconds on the event loop. Logins
        # are rare (a shift start) and rate-limited, so this is simpler than a second session
        # in a worker thread.
        async with self._sessions() as session:
            account = await authenticate(session, username, password)
        if account is None:
            return None
        return Account(
            agent_id=account.id,
            username=account.username,
            name=account.name,
            role=account.role,
            interface=account.interface,
        )


class AuthError(DomainError):
    pass


@dataclass(frozen=True, slots=True)
class Claims:
    """A verified token: who, with which role, until when."""

    agent_id: AgentId
    username: str
    role: str
    interface: str
    token_id: str
    expires_at: float

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret: str, *, ttl_s: float = 12 * 3600.0, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must have at least 16 characters")
        self._key = hashlib.sha256(secret.encode("utf-8")).digest()
        self.ttl_s = ttl_s
        self._clock = clock
        self._revoked: dict[str, float] = {}  # token id -> expiry

    def issue(self, account: Account) -> tuple[str, Claims]:
        claims = Claims(
            agent_id=account.agent_id,
            username=account.username,
            role=account.role,
            interface=account.interface,
            token_id=secrets.token_urlsafe(12),
            expires_at=self._clock() + self.ttl_s,
        )
        payload = {
            "sub": claims.agent_id,
            "usr": claims.username,
            "rol": claims.role,
            "ifc": claims.interface,
            "jti": claims.token_id,
            "exp": claims.expires_at,
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._sign(body)}", claims

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def verify(self, token: str) -> Claims:
        body, dot, signature = token.partition(".")
        # isascii first: a header or socket message may carry any character, and both _sign and
        # compare_digest refuse non-ASCII text with an exception rather than a mismatch.
        if not dot or not token.isascii() or not hmac.compare_digest(self._sign(body), signature):
            raise AuthError("invalid-token", "the session token is not valid; log in again")
        try:
            data = json.loads(_unb64(body))
            claims = Claims(
                agent_id=AgentId(str(data["sub"])),
                username=str(data["usr"]),
                role=str(data["rol"]),
                interface=str(data["ifc"]),
                token_id=str(data["jti"]),
                expires_at=float(data["exp"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise AuthError("invalid-token", "the session token is not valid; log in again") from None
        now = self._clock()
        if claims.expires_at <= now:
            raise AuthError("token-expired", "the session has expired; log in again")
        if claims.token_id in self._revoked:
            raise AuthError("token-revoked", "the session was logged out; log in again")
        return claims

    def revoke(self, claims: Claims) -> None:
        now = self._clock()
        self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp > now}
        self._revoked[claims.token_id] = claims.expires_at


class LoginLimiter:
    """At most `attempts_per_minute` failed logins per (username, address) in any 60 s, and ten
    times that per address whatever the usernames."""

    WINDOW_S = 60.0
    MAX_KEYS = 100_000
    ADDRESS_FACTOR = 10  # failed logins per address per minute, whatever the names: 10 x the per-name limit

    def __init__(self, attempts_per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = attempts_per_minute
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    @staticmethod
    def _key(username: str, address: str) -> tuple[str, str]:
        # One counter whatever the case or surrounding spaces, so "Agent1001 " cannot start afresh.
        return username.strip().casefold(), address

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        now = self._clock()
        failures = self._failures.get(key)
        if failures is None:
            failures = self._failures[key] = deque()
        while failures and failures[0] <= now - self.WINDOW_S:
            failures.popleft()
        return failures

    def check(self, username: str, address: str) -> None:
        failures = self._recent(self._key(username, address))
        if len(failures) >= self.limit:
            retry = max(1, round(failures[0] + self.WINDOW_S - self._clock()))
            raise AuthError(
                "too-many-logins",
                f"too many failed logins for {username!r}; try again in {retry} s",
                retry_after_s=retry,
            )
        # A flood of made-up usernames from one address gets a counter of its own.
        failures = self._recent(("", address))
        if len(failures) >= self.limit * self.ADDRESS_FACTOR:
            retry = max(1, round(failures[0] + self.WINDOW_S - self._clock()))
            raise AuthError(
                "too-many-logins",
                f"too many failed logins from {address}; try again in {retry} s",
                retry_after_s=retry,
            )

    def failed(self, username: str, address: str) -> None:
        self._recent(self._key(username, address)).append(self._clock())
        self._recent(("", address)).append(self._clock())
        if len(self._failures) > self.MAX_KEYS:  # bound the memory an attacker can make us use
            since = self._clock() - self.WINDOW_S
            live = {k: v for k, v in self._failures.items() if v and v[-1] > since}
            # Still too many within one minute (a flood of made-up names): forget the oldest half,
            # so each pruning buys MAX_KEYS / 2 cheap insertions instead of one.
            self._failures = dict(list(live.items())[len(live) // 2 :]) if len(live) > self.MAX_KEYS // 2 else live

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop(self._key(username, address), None)


class Authenticator:
    """Login (limited, logged without secrets) and token checks, in one place."""

    MAX_CHECKING = 2  # password checks at once (argon2 is CPU-bound; two cores)
    MAX_WAITING = 32  # logins queued behind them before new ones are turned away

    def __init__(self, accounts: AccountStore, signer: TokenSigner, limiter: LoginLimiter) -> None:
        self.accounts = accounts
        self.signer = signer
        self.limiter = limiter
        self._checking = asyncio.Semaphore(self.MAX_CHECKING)
        self._waiting = 0

    async def login(self, username: str, password: str, address: str) -> tuple[str, Claims, Account]:
        self.limiter.check(username, address)
        if self._waiting >= self.MAX_WAITING:
            raise AuthError("too-many-logins", "the server is busy checking other logins; try again in 1 s",
                            retry_after_s=1)
        self._waiting += 1
        try:
            async with self._checking:
                account = await self.accounts.authenticate(username, password)
        finally:
            self._waiting -= 1
        if account is None or account.role not in ROLES:
            self.limiter.failed(username, address)
            logger.warning("login %r from %s: refused", username, address)
            raise AuthError("bad-credentials", "unknown user or wrong password")
        self.limiter.succeeded(username, address)
        token, claims = self.signer.issue(account)
        logger.info("login %r (agent %s, %s) from %s", username, account.agent_id, account.role, address)
        return token, claims, account

    def verify(self, token: str | None) -> Claims:
        if not token:
            raise AuthError("not-authenticated", "log in first: no session token was sent")
        return self.signer.verify(token)

