"""The scheduler's lease: one holder at a time, renewal, expiry, takeover under a new fencing
token, and an old holder refused (on SQLite and PostgreSQL, with a moved clock, no sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dealroom import lease

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=15)


def take(session, holder, at):
    return lease.acquire(session, name="scheduler", holder=holder, ttl=TTL, now=at)


def holds(session, holder, token, at):
    return lease.holds(session, name="scheduler", holder=holder, token=token, now=at)


def test_the_first_comer_takes_the_lease_and_others_are_refused(session):
    assert take(session, "a", T0) == 1
    assert take(session, "b", T0 + timedelta(seconds=1)) is None
    assert holds(session, "a", 1, T0 + timedelta(seconds=1))
    assert not holds(session, "b", 1, T0 + timedelta(seconds=1))
    row = lease.current(session, name="scheduler")
    assert row is not None and row.holder == "a" and row.expires_at == T0 + TTL


def test_renewing_keeps_the_token_and_pushes_the_expiry(session):
    assert take(session, "a", T0) == 1
    # Renewed every 5 s, the lease never lapses: b stays refused long after the first 15 s.
    for seconds in (5, 10, 15, 20, 25):
        assert take(session, "a", T0 + timedelta(seconds=seconds)) == 1
        assert take(session, "b", T0 + timedelta(seconds=seconds)) is None
    assert holds(session, "a", 1, T0 + timedelta(seconds=39))
    assert not holds(session, "a", 1, T0 + timedelta(seconds=40))  # expired (25 + 15)


def test_an_expired_lease_is_taken_over_under_a_larger_token(session):
    assert take(session, "a", T0) == 1
    assert take(session, "b", T0 + TTL - timedelta(microseconds=1)) is None
    assert take(session, "b", T0 + TTL) == 2  # a died: its lease lapsed
    # a wakes up (it was paused): its token is refused, and it cannot renew b's lease.
    later = T0 + TTL + timedelta(seconds=1)
    assert not holds(session, "a", 1, later)
    assert take(session, "a", later) is None
    assert holds(session, "b", 2, later)
    # Once b's lease lapses too, a comes back under yet another token, never an old one.
    assert take(session, "a", T0 + 2 * TTL + timedelta(seconds=1)) == 3


def test_a_holder_that_outlived_its_own_lease_takes_it_again_under_a_new_token(session):
    assert take(session, "a", T0) == 1
    # Nobody took over while a stalled; still, what ran under token 1 is fenced off.
    assert take(session, "a", T0 + TTL + timedelta(seconds=3)) == 2
    assert not holds(session, "a", 1, T0 + TTL + timedelta(seconds=3))


def test_release_hands_over_at_once_but_only_by_the_holder(session):
    assert take(session, "a", T0) == 1
    at = T0 + timedelta(seconds=2)
    assert not lease.release(session, name="scheduler", holder="b", token=1, now=at)
    assert not lease.release(session, name="scheduler", holder="a", token=7, now=at)
    assert take(session, "b", at) is None
    assert lease.release(session, name="scheduler", holder="a", token=1, now=at)
    assert take(session, "b", at) == 2


def test_leases_by_name_are_independent(session):
    assert lease.acquire(session, name="one", holder="a", ttl=TTL, now=T0) == 1
    assert lease.acquire(session, name="two", holder="b", ttl=TTL, now=T0) == 1


def test_holder_ids_name_the_process_and_differ_between_calls():
    first, second = lease.new_holder(), lease.new_holder()
    assert first != second
    host, pid, _random = first.split(":")
    assert host and int(pid) > 0
