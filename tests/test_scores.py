"""Engagement scores: every component, the weighted mean, the reasons, deal-health rules at their
boundaries, the organisation's thresholds, and the bulk read the dashboards use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dealroom import scores, tasks, tracking
from dealroom.errors import InvalidInput, PermissionDenied
from dealroom.i18n import using
from dealroom.scores import HealthSettings
from dealroom.tracking import ViewerStat, Visit
from tests import factories

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- components


@pytest.mark.parametrize(
    ("days_ago", "expected"),
    [(0, 100), (1, 100), (15.5, 50), (29, 3), (30, 0), (45, 0)],
)
def test_recency_is_full_within_a_day_and_zero_after_thirty(days_ago, expected):
    assert scores.recency(NOW - timedelta(days=days_ago), NOW) == expected


def test_recency_without_any_activity_is_zero():
    assert scores.recency(None, NOW) == 0


@pytest.mark.parametrize(
    ("seconds", "expected"), [(0, 0), (-5, 0), (900, 25), (1800, 50), (3600, 100), (99999, 100)]
)
def test_depth_is_linear_up_to_the_target(seconds, expected):
    assert scores.depth(seconds, scores.DEPTH_ROOM_SECONDS) == expected


@pytest.mark.parametrize(
    ("engaged", "invited", "opened", "items", "expected"),
    [
        (0, 0, 0, 0, 0),
        (3, 5, 0, 10, 30),
        (5, 5, 10, 10, 100),
        (2, 4, 5, 10, 50),
        (7, 5, 12, 10, 100),  # capped
    ],
)
def test_breadth_is_the_mean_of_people_and_items_shares(engaged, invited, opened, items, expected):
    assert scores.breadth(engaged, invited, opened, items) == expected


@pytest.mark.parametrize(
    ("recent", "previous", "expected"),
    [(0, 0, 0), (100, 100, 50), (300, 100, 75), (0, 100, 0), (100, 0, 100), (35, 65, 35)],
)
def test_momentum_is_the_recent_share_of_four_weeks(recent, previous, expected):
    assert scores.momentum(recent, previous) == expected


def test_plan_is_the_share_done_or_not_counted_without_a_plan():
    assert scores.plan(0, 0) is None
    assert scores.plan(0, 4) == 0
    assert scores.plan(3, 4) == 75
    assert scores.plan(4, 4) == 100


@pytest.mark.parametrize(("messages", "expected"), [(0, 0), (1, 10), (5, 50), (10, 100), (50, 100)])
def test_conversation_counts_buyer_messages_up_to_the_target(messages, expected):
    assert scores.conversation(messages, scores.CONVERSATION_ROOM) == expected


def test_weights_are_documented_and_sum_to_one_hundred():
    assert sum(scores.WEIGHTS.values()) == 100
    assert scores.COMPONENTS == ("recency", "depth", "breadth", "momentum", "plan", "conversation")
    for name, weight in scores.WEIGHTS.items():
        assert f"{name}" in scores.__doc__ and str(weight) in scores.__doc__


def test_combine_is_the_weighted_mean_and_leaves_out_what_does_not_apply():
    full = dict.fromkeys(scores.COMPONENTS, 100)
    assert scores.combine(full) == 100
    assert scores.combine(dict.fromkeys(scores.COMPONENTS, 0)) == 0
    only_recency = {**dict.fromkeys(scores.COMPONENTS, 0), "recency": 100}
    assert scores.combine(only_recency) == 25
    # Without a plan the other weights (90 in all) are scaled up: 25/90 of 100.
    assert scores.combine({**only_recency, "plan": None}) == 28
    assert scores.combine(dict.fromkeys(scores.COMPONENTS, None)) == 0


# ---------------------------------------------------------------- health rules


def _health(**kw):
    values = {
        "score": 80,
        "momentum": 50,
        "overdue_buyer_tasks": 0,
        "silent_days": 0,
        "had_activity": True,
        "settings": HealthSettings(org_id=0),
    }
    values.update(kw)
    return scores.health(**values)


def test_defaults_are_the_documented_thresholds():
    settings = HealthSettings(org_id=0)
    assert (settings.at_risk_score, settings.cold_score) == (50, 25)
    assert (settings.at_risk_silence_days, settings.cold_silence_days) == (7, 14)


def test_an_engaged_room_is_on_track():
    assert _health() == "on_track"


@pytest.mark.parametrize(
    ("silent_days", "expected"),
    [(6, "on_track"), (7, "at_risk"), (13, "at_risk"), (14, "going_cold")],
)
def test_silence_boundaries(silent_days, expected):
    assert _health(silent_days=silent_days) == expected


@pytest.mark.parametrize(
    ("score", "expected"),
    [(50, "on_track"), (49, "at_risk"), (25, "at_risk"), (24, "going_cold")],
)
def test_score_boundaries(score, expected):
    assert _health(score=score) == expected


def test_a_low_score_before_any_activity_is_judged_by_silence_alone():
    # A room created yesterday that nobody opened yet is not "going cold".
    assert _health(score=0, momentum=0, had_activity=False, silent_days=1) == "on_track"
    assert _health(score=0, momentum=0, had_activity=False, silent_days=7) == "at_risk"
    assert _health(score=0, momentum=0, had_activity=False, silent_days=14) == "going_cold"


def test_an_overdue_buyer_task_puts_the_deal_at_risk():
    assert _health(overdue_buyer_tasks=1) == "at_risk"
    assert _health(overdue_buyer_tasks=1, silent_days=14) == "going_cold"


@pytest.mark.parametrize(("momentum", "expected"), [(35, "on_track"), (34, "at_risk")])
def test_falling_momentum_boundary(momentum, expected):
    assert _health(momentum=momentum) == expected


def test_thresholds_come_from_the_organisations_settings():
    strict = HealthSettings(
        org_id=0, at_risk_score=90, cold_score=60, at_risk_silence_days=2, cold_silence_days=3
    )
    assert _health(score=80, settings=strict) == "at_risk"
    assert _health(score=59, settings=strict) == "going_cold"
    assert _health(silent_days=2, settings=strict) == "at_risk"
    assert _health(silent_days=3, settings=strict) == "going_cold"


# ---------------------------------------------------------------- settings


def test_an_admin_changes_the_thresholds(session):
    admin = factories.seller(session)
    assert scores.health_settings(session, org_id=admin.org_id).at_risk_score == 50
    scores.update_health_settings(
        session,
        user=admin,
        data={
            "at_risk_score": "60",
            "cold_score": "30",
            "at_risk_silence_days": "5",
            "cold_silence_days": "10",
        },
    )
    row = scores.health_settings(session, org_id=admin.org_id)
    assert (row.at_risk_score, row.cold_score, row.at_risk_silence_days, row.cold_silence_days) == (
        60,
        30,
        5,
        10,
    )


def test_bad_thresholds_are_refused_field_by_field(session):
    admin = factories.seller(session)
    with pytest.raises(InvalidInput) as caught:
        scores.update_health_settings(
            session,
            user=admin,
            data={
                "at_risk_score": "abc",
                "cold_score": "101",
                "at_risk_silence_days": "0",
                "cold_silence_days": "7",
            },
        )
    assert set(caught.value.fields) == {
        "at_risk_score",
        "cold_score",
        "at_risk_silence_days",
    }
    with pytest.raises(InvalidInput) as caught:
        scores.update_health_settings(
            session,
            user=admin,
            data={
                "at_risk_score": "40",
                "cold_score": "50",
                "at_risk_silence_days": "7",
                "cold_silence_days": "7",
            },
        )
    assert set(caught.value.fields) == {"cold_score", "cold_silence_days"}
    assert session.get(HealthSettings, admin.org_id) is None


def test_only_an_admin_changes_the_thresholds(session):
    admin = factories.seller(session, org="Org T")
    manager = factories.seller(session, org="Org T", role="manager")
    assert manager.org_id == admin.org_id
    with pytest.raises(PermissionDenied):
        scores.update_health_settings(session, user=manager, data={})


# ---------------------------------------------------------------- scoring rooms from rollups


@pytest.fixture
def deal(session, services):
    user = factories.seller(session)
    room = factories.room(session, user, name="Acme rollout")
    room.created_at = NOW - timedelta(days=60)
    kato = factories.invite(session, services, room, user, email="kato@acme.example", name="Kato")
    sato = factories.invite(
        session,
        services,
        room,
        user,
        email="sato@acme.example",
        name="Sato",
        role="economic_buyer",
    )
    mori = factories.invite(session, services, room, user, email="mori@acme.example", name="Mori")
    session.flush()
    return {"user": user, "room": room, "kato": kato, "sato": sato, "mori": mori}


def stat(session, room, invite, *, seconds, last_seen, messages=0, visits=1):
    session.add(
        ViewerStat(
            org_id=room.org_id,
            room_id=room.id,
            invite_id=invite.id,
            active_seconds=seconds,
            visits=visits,
            messages=messages,
            first_seen=last_seen,
            last_seen=last_seen,
        )
    )


def hour(session, room, at, seconds):
    tracking.add_room_activity(session, org_id=room.org_id, room_id=room.id, at=at, seconds=seconds)


def test_a_room_without_any_buyer_activity(session, deal):
    with using("en"):
        [scored] = scores.score_rooms(
            session, org_id=deal["room"].org_id, rooms=[deal["room"]], now=NOW
        )
    assert scored.score == 0
    assert scored.components == {
        "recency": 0,
        "depth": 0,
        "breadth": 0,
        "momentum": 0,
        "plan": None,
        "conversation": 0,
    }
    # Silent since the room was created 60 days ago.
    assert scored.health == "going_cold" and scored.silent_days == 60
    assert scored.reasons[0] == "No buyer has opened the room yet"
    assert "Economic buyer Sato has not opened the room" in scored.reasons
    assert (scored.stakeholders_engaged, scored.stakeholders_invited) == (0, 3)


def test_an_engaged_room_scores_each_component_from_the_rollups(session, deal):
    room = deal["room"]
    stat(session, room, deal["kato"], seconds=1800, last_seen=NOW - timedelta(hours=2), messages=4)
    stat(session, room, deal["sato"], seconds=600, last_seen=NOW - timedelta(days=12))
    # 3,000 s in the last 14 days, 1,000 s in the 14 before, and old activity that is ignored.
    hour(session, room, NOW - timedelta(days=1), 3000)
    hour(session, room, NOW - timedelta(days=20), 1000)
    hour(session, room, NOW - timedelta(days=40), 9999)
    actor = tasks.Actor(user=deal["user"])
    milestone = tasks.add_milestone(session, room=room, actor=actor, data={"title": "Pilot"})
    for title, status in (("Kick-off", "done"), ("Security review", "todo")):
        task = tasks.add_task(
            session,
            room=room,
            actor=actor,
            data={
                "milestone_id": milestone.public_id,
                "title": title,
                "owner_id": deal["kato"].public_id,
                "due_date": "2026-11-10",
            },
        )
        if status == "done":
            tasks.set_status(session, room=room, actor=actor, task=task, status="done")
    session.flush()
    with using("en"):
        scored = scores.room_score(session, room=room, now=NOW)
    assert scored.components == {
        "recency": 100,
        "depth": 67,  # 2,400 s of 3,600
        "breadth": 33,  # 2 of 3 people, 0 of 0 items
        "momentum": 75,
        "plan": 50,
        "conversation": 40,
    }
    assert scored.score == round((25 * 100 + 20 * 67 + 20 * 33 + 15 * 75 + 10 * 50 + 10 * 40) / 100)
    # The economic buyer has been silent 12 days; one buyer task is overdue.
    assert scored.health == "at_risk"
    assert scored.reasons == [
        "Economic buyer silent 12 days",
        "1 overdue buyer tasks in the plan",
        "1 of 3 stakeholders active this week",
    ]
    assert scored.last_buyer_activity == NOW - timedelta(hours=2)


def test_reasons_are_in_the_readers_language(session, deal):
    stat(session, deal["room"], deal["sato"], seconds=60, last_seen=NOW - timedelta(days=12))
    session.flush()
    with using("ja"):
        scored = scores.room_score(session, room=deal["room"], now=NOW)
    assert scored.reasons[0] == "買い手側の動きが12日間ありません"
    assert all(not reason.isascii() for reason in scored.reasons)


def test_revoked_people_and_other_rooms_do_not_count(session, services, deal):
    room = deal["room"]
    other = factories.room(session, deal["user"], name="Other deal")
    session.flush()
    stranger = factories.invite(session, services, other, deal["user"], email="x@acme.example")
    stat(session, other, stranger, seconds=3600, last_seen=NOW)
    stat(session, room, deal["mori"], seconds=3600, last_seen=NOW)
    deal["mori"].revoked_at = NOW
    session.flush()
    facts = scores.room_facts(session, org_id=room.org_id, room_ids=[room.id], now=NOW)[room.id]
    assert (facts.invited, facts.engaged, facts.active_seconds) == (2, 0, 0)


def test_viewer_scores(session, deal):
    room = deal["room"]
    stat(session, room, deal["kato"], seconds=1200, last_seen=NOW, messages=5)
    session.add(
        Visit(
            org_id=room.org_id,
            room_id=room.id,
            invite_id=deal["kato"].id,
            started_at=NOW - timedelta(days=2),
            last_seen_at=NOW - timedelta(days=2),
            active_seconds=300,
        )
    )
    session.add(
        Visit(
            org_id=room.org_id,
            room_id=room.id,
            invite_id=deal["kato"].id,
            started_at=NOW - timedelta(days=20),
            last_seen_at=NOW - timedelta(days=20),
            active_seconds=100,
        )
    )
    session.flush()
    viewers = scores.score_viewers(session, room=room, now=NOW)
    assert [v.invite.display_name for v in viewers][0] == "Kato"
    kato = viewers[0]
    assert kato.components == {
        "recency": 100,
        "depth": 100,
        "breadth": 0,
        "momentum": 75,
        "plan": None,
        "conversation": 100,
    }
    assert kato.score == round((25 * 100 + 20 * 100 + 0 + 15 * 75 + 10 * 100) / 90)
    assert {v.invite.display_name: v.score for v in viewers[1:]} == {"Mori": 0, "Sato": 0}


def test_attention_order_is_cold_then_at_risk_then_lowest_score(session, services):
    user = factories.seller(session)
    made = {}
    for name, silent in (("Calm", 1), ("Quiet", 8), ("Frozen", 20)):
        room = factories.room(session, user, name=name)
        session.flush()
        buyer = factories.invite(
            session, services, room, user, email=f"{name.lower()}@acme.example"
        )
        stat(
            session, room, buyer, seconds=3600, last_seen=NOW - timedelta(days=silent), messages=10
        )
        hour(session, room, NOW - timedelta(days=silent), 100)
        made[name] = room
    session.flush()
    scored = scores.score_rooms(session, org_id=user.org_id, rooms=list(made.values()), now=NOW)
    ordered = sorted(scored, key=lambda s: s.attention)
    assert [(s.room.name, s.health) for s in ordered] == [
        ("Frozen", "going_cold"),
        ("Quiet", "at_risk"),
        ("Calm", "on_track"),
    ]


def test_org_rooms_leaves_out_archived_rooms_and_filters(session):
    user = factories.seller(session)
    rep = factories.seller(session, org="x", role="rep")
    kept = factories.room(session, user, name="B kept", stage="evaluation")
    factories.room(session, user, name="A other")
    archived = factories.room(session, user, name="C archived")
    archived.archived_at = NOW
    session.flush()
    assert [r.name for r in scores.org_rooms(session, org_id=user.org_id)] == ["A other", "B kept"]
    assert scores.org_rooms(session, org_id=user.org_id, stage="evaluation") == [kept]
    assert scores.org_rooms(session, org_id=user.org_id, owner_id=rep.id) == []
