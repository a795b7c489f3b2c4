"""The sign-in throttle's windows and locks (``package_api.access.sign_in_throttle``), on the database
the app uses, with a clock the tests move."""
from __future__ import annotations

import datetime
import ipaddress
import json

import pytest
from sqlalchemy import select

from package_api import services
from package_api.access.sign_in_throttle import Limits, SignInThrottle, client_address
from package_api.access.users import UserService
from package_api.audit.models import AuditEvent
from package_api.db import db
from package_api.identity import ANONYMOUS, Actor

T0 = datetime.datetime(2026, 12, 6, 1, 0, 0)
LIMITS = Limits(account_max=3, address_max=5, window=60, lock=300)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.fixture
def ctx(app):
    with app.app_context():
        UserService(db.session).create("victim", "a good password")
        yield


def throttle(address: str = "10.0.0.1", limits: Limits = LIMITS) -> SignInThrottle:
    return SignInThrottle(db.session, limits, actor=Actor(ANONYMOUS, address))


def _locks() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event_name == "sign_in_locked")))


def test_failures_within_the_window_lock_the_account_for_the_lock_period(ctx):
    t = throttle()
    assert t.failed("victim", now=at(0)) is None and t.failed("victim", now=at(10)) is None
    assert t.retry_after("victim", now=at(11)) is None
    assert t.failed("victim", now=at(20)) == 300  # the third: locked
    assert t.retry_after("victim", now=at(21)) == 299
    assert t.retry_after("Victim", now=at(21)) == 299  # the name as typed, whatever its case
    assert t.retry_after("victim", now=at(320)) is None  # the lock is temporary
    assert t.failed("victim", now=at(321)) is None  # and the count starts afresh after it
    [event] = _locks()
    assert (event.target_type, event.target_details, event.ip_address) == ("User", "victim", "10.0.0.1")
    assert event.target_id is not None and json.loads(event.details)["failures"] == 3


def test_failures_spread_wider_than_the_window_never_lock(ctx):
    t = throttle()
    for second in range(0, 600, 40):  # two at most in any 60 s window
        assert t.failed("victim", now=at(second)) is None
        assert t.retry_after("victim", now=at(second + 1)) is None
    assert _locks() == []


def test_success_clears_the_accounts_failures_but_not_the_addresss(ctx):
    t = throttle(limits=Limits(account_max=3, address_max=4, window=60, lock=300))
    t.failed("victim", now=at(0))
    t.failed("victim", now=at(1))
    t.succeeded("victim")
    assert t.failed("victim", now=at(2)) is None  # the account's first again, not its third
    assert t.failed("victim", now=at(3)) == 300  # the account's second, but the address's fourth
    [event] = _locks()
    assert (event.target_type, event.target_details) == ("Address", "10.0.0.1")


def test_one_address_guessing_many_names_is_locked_and_other_addresses_are_not(ctx):
    guesser = throttle("10.0.0.66")
    for n in range(4):
        assert guesser.failed(f"name{n}", now=at(n)) is None
    assert guesser.failed("name4", now=at(4)) == 300
    assert guesser.retry_after("victim", now=at(5)) == 299  # every name, from that address
    assert throttle("10.0.0.2").retry_after("victim", now=at(5)) is None


def test_unknown_names_are_counted_like_known_ones(ctx):
    t = throttle()
    for second in range(3):
        t.failed("nobody", now=at(second))
    assert t.retry_after("nobody", now=at(3)) == 299  # locked at its third, at 2 s
    [event] = _locks()
    assert (event.target_type, event.target_id, event.target_details) == ("User", None, "nobody")


def test_unlock_lifts_the_lock_at_once(ctx):
    t = throttle()
    for second in range(3):
        t.failed("victim", now=at(second))
    assert t.retry_after("victim", now=at(3)) is not None
    assert t.unlock("victim") is True
    assert t.retry_after("victim", now=at(3)) is None
    assert t.unlock("victim") is False


def test_a_maximum_of_zero_counts_nothing(ctx):
    t = throttle(limits=Limits(account_max=0, address_max=0, window=60, lock=300))
    for second in range(20):
        assert t.failed("victim", now=at(second)) is None
    assert t.retry_after("victim", now=at(21)) is None


PROXIES = (ipaddress.ip_network("10.9.0.0/16"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "counted"),
    [
        ("192.0.2.7", None, "192.0.2.7"),  # no proxy
        ("192.0.2.7", "203.0.113.5", "192.0.2.7"),  # a client's own header from outside: ignored
        ("10.9.0.1", "203.0.113.5", "203.0.113.5"),  # through the proxy
        ("10.9.0.1", "1.1.1.1, 203.0.113.5", "203.0.113.5"),  # what the client claimed is not believed
        ("10.9.0.1", "203.0.113.5, 10.9.0.2", "203.0.113.5"),  # two proxies
        ("::ffff:10.9.0.1", "203.0.113.5", "203.0.113.5"),  # a dual-stack listener's IPv4 peer
        ("10.9.0.1", None, "10.9.0.1"),  # the proxy said nothing: the proxy
        ("10.9.0.1", "10.9.0.3", "10.9.0.1"),  # only proxies
    ],
)
def test_the_client_behind_a_trusted_proxy_is_the_one_counted(peer, forwarded_for, counted):
    assert client_address(peer, forwarded_for, PROXIES) == counted
    assert client_address(peer, forwarded_for, ()) == peer  # no trusted proxies: always the peer


def test_the_pages_count_the_forwarded_client_of_a_trusted_proxy(app):
    app.config["MODELSHELF"]["TRUSTED_PROXY_CIDRS"] = "127.0.0.0/8"
    with app.test_request_context(headers={"X-Forwarded-For": "203.0.113.5"}, environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        throttle = services.sign_in_throttle(actor=Actor(ANONYMOUS, "127.0.0.1"), forwarded_for="203.0.113.5")
        assert throttle.actor.ip_address == "203.0.113.5"
