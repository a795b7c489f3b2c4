"""Throttling failed sign-ins, per account name and per client address, as GitLab does: ``max``
failures within ``window`` seconds of the first refuse further attempts for ``lock`` seconds.

The counts live in the database (``sign_in_failures``), so every node sees the same ones. A locked
account or address is refused before any password is hashed (a refusal costs no scrypt), with the
seconds left (``Retry-After``). A successful sign-in clears the account's failures; the address's
are kept, or one valid account would let an attacker reset its address's count between guesses. A
lock is temporary: when it ends the count starts afresh, so an attacker can keep an account locked
only by going on failing, from addresses that lock in turn; ``unlock`` (``modelshelf admin
unlock-user``) lifts it at once. Each lock is audited as ``sign_in_locked``.

Account names are counted whether or not the account exists (lower-cased, as typed), so the answers
tell nothing about which names exist.
"""
from __future__ import annotations

import datetime
import ipaddress
import math
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select

from package_api import audit
from package_api.access.models import SignInFailures, User
from package_api.db import DbSession, utcnow
from package_api.identity import COMMAND_LINE, Actor
from package_api.transactions import committed

ACCOUNT = "account"
ADDRESS = "address"
#: Longest key kept (the column's size); longer names are cut, which only merges absurd names.
MAX_KEY = 255

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Limits:
    """``SIGN_IN_MAX_FAILURES`` (per account), ``SIGN_IN_ADDRESS_MAX_FAILURES`` (per address),
    ``SIGN_IN_FAILURE_WINDOW`` and ``SIGN_IN_LOCK_SECONDS`` (seconds); a maximum of 0 counts nothing.
    ``proxies``: ``TRUSTED_PROXY_CIDRS``, the reverse proxies whose ``X-Forwarded-For`` names the client."""

    account_max: int = 10
    address_max: int = 50
    window: float = 600.0
    lock: float = 600.0
    proxies: tuple[Network, ...] = field(default=())

    def max_for(self, scope: str) -> int:
        return self.account_max if scope == ACCOUNT else self.address_max


def parse_networks(setting: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, ::1"`` as networks; raise ``ValueError`` for one that is not."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip())


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def client_address(peer: str, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The address a sign-in is counted against: the peer, unless it is a trusted proxy; then the
    right-most address of ``X-Forwarded-For`` that is not one (what the nearest untrusted hop
    said; the left-most entries are the client's own word and would let it pick its address)."""
    trusted = _ip(peer)
    if not proxies or trusted is None or not any(trusted in net for net in proxies):
        return peer
    for hop in reversed((forwarded_for or "").split(",")):
        ip = _ip(hop)
        if ip is None:
            return hop.strip() or peer  # not an address: count it as given, never as the proxy
        if not any(ip in net for net in proxies):
            return str(ip)
    return peer


def account_key(username: str) -> str:
    return username.strip().lower()[:MAX_KEY]


class SignInThrottle:
    def __init__(self, session: DbSession, limits: Limits, *, actor: Actor = COMMAND_LINE) -> None:
        self.session = session
        self.limits = limits
        self.actor = actor  # the client signing in (its address is the one counted)

    def _keys(self, username: str) -> list[tuple[str, str]]:
        keys = [(ACCOUNT, account_key(username))]
        if self.actor.ip_address:
            keys.append((ADDRESS, self.actor.ip_address[:MAX_KEY]))
        return [(scope, key) for scope, key in keys if self.limits.max_for(scope) > 0]

    def retry_after(self, username: str, *, now: datetime.datetime | None = None) -> int | None:
        """Seconds until ``username`` may be tried again from this address, or ``None`` if now."""
        now = now or utcnow()
        waits = []
        for scope, key in self._keys(username):
            row = self.session.get(SignInFailures, (scope, key))
            if row is not None and row.locked_until is not None and row.locked_until > now:
                waits.append(math.ceil((row.locked_until - now).total_seconds()))
        return max(waits) if waits else None

    def failed(self, username: str, *, now: datetime.datetime | None = None) -> int | None:
        """Count a failed sign-in as ``username`` from this address, and commit; return the seconds
        of the lock it started (audited as ``sign_in_locked``), or ``None``."""
        moment = now or utcnow()
        return committed(self.session, lambda: self._failed(username, moment))

    def _failed(self, username: str, now: datetime.datetime) -> int | None:
        started = None
        window = datetime.timedelta(seconds=self.limits.window)
        for scope, key in self._keys(username):
            row = self.session.get(SignInFailures, (scope, key))
            if row is None:
                row = SignInFailures(scope=scope, key=key, failures=0, window_started_at=now)
                self.session.add(row)
            elif now - row.window_started_at >= window or (row.locked_until is not None and row.locked_until <= now):
                row.failures, row.window_started_at, row.locked_until = 0, now, None
            row.failures += 1
            if row.failures >= self.limits.max_for(scope) and (row.locked_until is None or row.locked_until <= now):
                row.locked_until = now + datetime.timedelta(seconds=self.limits.lock)
                started = math.ceil(self.limits.lock)
                self._audit(scope, key, row.failures)
        return started

    def _audit(self, scope: str, key: str, failures: int) -> None:
        user = self.session.scalar(select(User).where(func.lower(User.username) == key)) if scope == ACCOUNT else None
        audit.record(
            self.session,
            "sign_in_locked",
            project=None,
            target_type="User" if scope == ACCOUNT else "Address",
            target_id=user.id if user is not None else None,
            target_details=user.username if user is not None else key,
            details={"scope": scope, "failures": failures, "lock_seconds": self.limits.lock},
            actor=self.actor,
        )

    def succeeded(self, username: str) -> None:
        """Clear the account's failures (and lock) after a successful sign-in, and commit."""
        self.unlock(username)

    def unlock(self, username: str) -> bool:
        """Forget the account's failures and lift its lock, and commit; return whether it had any."""

        def work() -> bool:
            statement = delete(SignInFailures).where(
                SignInFailures.scope == ACCOUNT, SignInFailures.key == account_key(username)
            )
            return bool(self.session.execute(statement).rowcount)  # type: ignore[attr-defined]

        return committed(self.session, work)
