"""The mutual action plan's rules: who may own, add, tick, edit and comment; roll-ups and health;
plans from room templates."""

from __future__ import annotations

import random
import threading
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from dealroom import tasks
from dealroom.accounts import User
from dealroom.db import utcnow
from dealroom.errors import AccessRevoked, Conflict, InvalidInput, NotFound, PermissionDenied
from dealroom.invites import revoke_invite
from dealroom.rooms import Room, archive_room
from dealroom.tasks import Actor, Milestone, Task, TaskComment
from tests import factories

DAY = date(2026, 3, 10)


@pytest.fixture
def world(session, services):
    seller = factories.seller(session, org="Northwind")
    rep = factories.seller(session, org="Northwind", role="rep")
    room = factories.room(session, seller)
    kato = factories.invite(session, services, room, seller, email="kato@acme.example", name="Kato")
    mei = factories.invite(session, services, room, seller, email="mei@acme.example", name="Mei")
    gone = factories.invite(session, services, room, seller, email="gone@acme.example")
    revoke_invite(session, room=room, seller=seller, invite=gone)
    other_room = factories.room(session, seller, name="Other deal")
    stranger = factories.invite(session, services, other_room, seller, email="s@acme.example")
    rival = factories.seller(session, org="Contoso")
    session.flush()
    milestone = tasks.add_milestone(
        session, room=room, actor=Actor(user=seller), data={"title": "Technical validation"}
    )
    return {
        "seller": seller,
        "rep": rep,
        "room": room,
        "kato": kato,
        "mei": mei,
        "gone": gone,
        "other_room": other_room,
        "stranger": stranger,
        "rival": rival,
        "milestone": milestone,
    }


def sells(world, who="seller"):
    return Actor(user=world[who])


def buys(world, who="kato"):
    return Actor(invite=world[who])


def add(session, world, actor=None, **data):
    values = {"milestone_id": world["milestone"].public_id, "title": "Security review", **data}
    return tasks.add_task(session, room=world["room"], actor=actor or sells(world), data=values)


# ---------------------------------------------------------------- owners


@pytest.mark.parametrize("owner", ["seller", "rep", "kato"])
def test_members_of_the_room_may_own_a_task(session, world, owner):
    task = add(session, world, owner_id=world[owner].public_id)

    assert tasks.task_values(session, task=task)["owner_id"] == world[owner].public_id
    assert (task.owner_user_id is None) != (task.owner_invite_id is None)


def test_a_task_may_have_no_owner(session, world):
    task = add(session, world, owner_id="")

    assert task.owner_user_id is None and task.owner_invite_id is None


@pytest.mark.parametrize(
    "owner",
    [
        "rival",  # a seller of another organisation
        "stranger",  # a buyer invited to another room
        "gone",  # a revoked buyer of this room
        "usr_0123456789abcdefghjk",
        "inv_0123456789abcdefghjk",
        "room_0123456789abcdefghjk",
        "kato@acme.example",
    ],
)
def test_tasks_owned_by_non_members_are_refused(session, world, owner):
    owner_id = world[owner].public_id if owner in world else owner

    with pytest.raises(InvalidInput) as refused:
        add(session, world, owner_id=owner_id)

    assert "member of this room" in refused.value.fields["owner_id"]
    assert session.exec(select(Task)).all() == []


def test_a_disabled_seller_cannot_own_a_task(session, world):
    world["rep"].disabled_at = utcnow()

    with pytest.raises(InvalidInput):
        add(session, world, owner_id=world["rep"].public_id)


def test_members_lists_active_sellers_then_active_buyers(session, world):
    people = tasks.members(session, room=world["room"])

    assert [(m.id, m.side) for m in people] == [
        (world["seller"].public_id, "seller"),
        (world["rep"].public_id, "seller"),
        (world["kato"].public_id, "buyer"),
        (world["mei"].public_id, "buyer"),
    ]


def test_the_database_refuses_two_owners(session, world):
    task = add(session, world, owner_id=world["kato"].public_id)

    with pytest.raises(IntegrityError), session.begin_nested():
        task.owner_user_id = world["seller"].id
        session.flush()


# ---------------------------------------------------------------- validation


def test_every_bad_field_is_reported_at_once(session, world):
    with pytest.raises(InvalidInput) as refused:
        tasks.add_task(
            session,
            room=world["room"],
            actor=sells(world),
            data={
                "milestone_id": "ms_nope",
                "title": " ",
                "due_date": "31/03/2026",
                "notes": "x" * 5001,
                "status": "finished",
            },
        )

    assert set(refused.value.fields) == {"milestone_id", "title", "due_date", "notes", "status"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-30", "a date like"),
        ("2026-3-1", "a date like"),
        ("tomorrow", "a date like"),
        ("1999-12-31", "between 2000 and 2100"),
        ("2101-01-01", "between 2000 and 2100"),
        ("2026-03\x0001", "NUL"),
    ],
)
def test_bad_due_dates_are_refused(session, world, value, message):
    with pytest.raises(InvalidInput) as refused:
        add(session, world, due_date=value)

    assert message in refused.value.fields["due_date"]


def test_a_milestone_of_another_room_is_refused(session, world):
    theirs = tasks.add_milestone(
        session, room=world["other_room"], actor=sells(world), data={"title": "Elsewhere"}
    )

    with pytest.raises(InvalidInput) as refused:
        add(session, world, milestone_id=theirs.public_id)

    assert refused.value.fields == {"milestone_id": "No such milestone in this room."}


def test_milestones_take_a_title_and_an_optional_date(session, world):
    milestone = tasks.add_milestone(
        session,
        room=world["room"],
        actor=sells(world),
        data={"title": "  Legal   review ", "due_date": "2026-04-01"},
    )

    assert (milestone.title, milestone.due_date) == ("Legal review", date(2026, 4, 1))
    assert milestone.position == world["milestone"].position + 1
    with pytest.raises(InvalidInput) as refused:
        tasks.add_milestone(session, room=world["room"], actor=sells(world), data={"title": ""})
    assert set(refused.value.fields) == {"title"}


# ---------------------------------------------------------------- permissions per side


def test_buyers_add_tasks_to_any_milestone(session, world):
    task = add(session, world, buys(world), owner_id=world["seller"].public_id)

    assert task.created_by_invite_id == world["kato"].id
    assert task.created_by_user_id is None


def test_buyers_cannot_manage_milestones(session, world):
    with pytest.raises(PermissionDenied):
        tasks.add_milestone(session, room=world["room"], actor=buys(world), data={"title": "Mine"})
    with pytest.raises(PermissionDenied):
        tasks.update_milestone(
            session,
            room=world["room"],
            actor=buys(world),
            milestone=world["milestone"],
            data={"title": "Renamed"},
        )
    with pytest.raises(PermissionDenied):
        tasks.delete_milestone(
            session, room=world["room"], actor=buys(world), milestone=world["milestone"]
        )


def test_a_buyer_ticks_the_tasks_they_own(session, world):
    task = add(session, world, owner_id=world["kato"].public_id)

    tasks.set_status(session, room=world["room"], actor=buys(world), task=task, status="done")

    assert task.status == "done" and task.completed_at is not None


def test_a_buyer_cannot_change_the_status_of_a_sellers_task(session, world):
    task = add(session, world, owner_id=world["seller"].public_id)

    with pytest.raises(PermissionDenied):
        tasks.set_status(session, room=world["room"], actor=buys(world), task=task, status="done")
    with pytest.raises(PermissionDenied):
        tasks.set_status(
            session, room=world["room"], actor=buys(world, "mei"), task=task, status="done"
        )
    assert task.status == "todo"


def test_a_buyer_cannot_tick_another_buyers_task(session, world):
    task = add(session, world, owner_id=world["mei"].public_id)

    with pytest.raises(PermissionDenied):
        tasks.set_status(session, room=world["room"], actor=buys(world), task=task, status="done")


def test_a_buyer_may_tick_a_task_they_added_for_someone_else(session, world):
    task = add(session, world, buys(world), owner_id=world["seller"].public_id)

    tasks.set_status(
        session, room=world["room"], actor=buys(world), task=task, status="in_progress"
    )

    assert task.status == "in_progress"


def test_buyers_edit_and_delete_only_the_tasks_they_added(session, world):
    theirs = add(session, world, owner_id=world["kato"].public_id)  # added by the seller
    own = add(session, world, buys(world), title="Book the pilot")

    with pytest.raises(PermissionDenied):
        tasks.update_task(
            session, room=world["room"], actor=buys(world), task=theirs, data={"title": "Mine"}
        )
    with pytest.raises(PermissionDenied):
        tasks.delete_task(session, room=world["room"], actor=buys(world), task=theirs)
    with pytest.raises(PermissionDenied):
        tasks.update_task(
            session, room=world["room"], actor=buys(world, "mei"), task=own, data={"title": "x"}
        )

    tasks.update_task(
        session, room=world["room"], actor=buys(world), task=own, data={"title": "Pilot booked"}
    )
    assert own.title == "Pilot booked"
    tasks.delete_task(session, room=world["room"], actor=buys(world), task=own)
    assert session.get(Task, own.id) is None


def test_sellers_do_everything(session, world):
    task = add(session, world, buys(world), owner_id=world["kato"].public_id)
    second = tasks.add_milestone(
        session, room=world["room"], actor=sells(world, "rep"), data={"title": "Signature"}
    )

    tasks.update_task(
        session,
        room=world["room"],
        actor=sells(world, "rep"),
        task=task,
        data={"title": "Renamed", "milestone_id": second.public_id, "due_date": "2026-05-01"},
    )
    tasks.set_status(session, room=world["room"], actor=sells(world), task=task, status="blocked")

    assert (task.title, task.milestone_id, task.due_date, task.status) == (
        "Renamed",
        second.id,
        date(2026, 5, 1),
        "blocked",
    )
    tasks.delete_task(session, room=world["room"], actor=sells(world), task=task)


def test_anyone_in_the_room_comments_on_any_task(session, world):
    task = add(session, world, owner_id=world["seller"].public_id)

    by_buyer = tasks.add_comment(
        session,
        room=world["room"],
        actor=buys(world, "mei"),
        task=task,
        body="Can we do **Friday**?",
    )
    by_seller = tasks.add_comment(
        session, room=world["room"], actor=sells(world), task=task, body="Yes"
    )

    assert by_buyer.author_invite_id == world["mei"].id and by_buyer.author_user_id is None
    assert by_seller.author_user_id == world["seller"].id


def test_an_empty_comment_is_refused(session, world):
    task = add(session, world)

    with pytest.raises(InvalidInput) as refused:
        tasks.add_comment(session, room=world["room"], actor=buys(world), task=task, body="  \n ")

    assert "body" in refused.value.fields


def test_a_revoked_buyer_can_do_nothing(session, world):
    task = add(session, world, owner_id=world["kato"].public_id)
    revoke_invite(session, room=world["room"], seller=world["seller"], invite=world["kato"])

    with pytest.raises(AccessRevoked):
        add(session, world, buys(world), title="Sneaky")
    with pytest.raises(AccessRevoked):
        tasks.set_status(session, room=world["room"], actor=buys(world), task=task, status="done")
    with pytest.raises(AccessRevoked):
        tasks.add_comment(session, room=world["room"], actor=buys(world), task=task, body="hi")


def test_people_of_another_room_or_org_are_refused(session, world):
    task = add(session, world)

    with pytest.raises(NotFound):
        add(session, world, Actor(invite=world["stranger"]))
    with pytest.raises(NotFound):
        tasks.set_status(
            session, room=world["room"], actor=sells(world, "rival"), task=task, status="done"
        )
    with pytest.raises(NotFound):
        tasks.get_task(session, room=world["other_room"], task_id=task.public_id)
    with pytest.raises(NotFound):
        tasks.get_milestone(session, room=world["room"], milestone_id="ms_nope")


def test_an_archived_room_plan_cannot_change(session, world):
    task = add(session, world)
    archive_room(session, room=world["room"])

    with pytest.raises(Conflict):
        add(session, world)
    with pytest.raises(Conflict):
        tasks.set_status(session, room=world["room"], actor=sells(world), task=task, status="done")


# ---------------------------------------------------------------- status


def test_status_changes_record_completion(session, world):
    task = add(session, world)
    room, actor = world["room"], sells(world)

    tasks.set_status(session, room=room, actor=actor, task=task, status="done")
    done_at = task.completed_at
    tasks.set_status(session, room=room, actor=actor, task=task, status="done")
    assert task.completed_at == done_at is not None  # ticking again keeps the first time

    tasks.set_status(session, room=room, actor=actor, task=task, status="in_progress")
    assert task.completed_at is None


def test_an_unknown_status_is_refused(session, world):
    task = add(session, world)

    with pytest.raises(InvalidInput) as refused:
        tasks.set_status(session, room=world["room"], actor=sells(world), task=task, status="won")

    assert "status" in refused.value.fields


def test_a_task_may_start_done(session, world):
    task = add(session, world, status="done")

    assert task.completed_at is not None


def test_deleting_a_milestone_deletes_its_tasks_and_comments(session, world):
    task = add(session, world)
    tasks.add_comment(session, room=world["room"], actor=buys(world), task=task, body="Noted")

    tasks.delete_milestone(
        session, room=world["room"], actor=sells(world), milestone=world["milestone"]
    )
    session.flush()

    assert session.exec(select(Task)).all() == []
    assert session.exec(select(TaskComment)).all() == []
    assert session.exec(select(Milestone)).all() == []


# ---------------------------------------------------------------- roll-ups and health


def task_due(days: int | None, status: str = "todo") -> Task:
    due = DAY + timedelta(days=days) if days is not None else None
    return Task(org_id=1, room_id=1, milestone_id=1, title="t", status=status, due_date=due)


def test_progress_counts_done_tasks():
    items = [task_due(None, "done"), task_due(None, "todo"), task_due(None, "blocked")]

    result = tasks.progress(items)

    assert (result.done, result.total, result.percent) == (1, 3, 33)
    assert tasks.progress([]).percent == 0


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        ([], "on_track"),
        ([task_due(None)], "on_track"),
        ([task_due(tasks.AT_RISK_WITHIN_DAYS + 1)], "on_track"),
        ([task_due(tasks.AT_RISK_WITHIN_DAYS)], "at_risk"),
        ([task_due(0)], "at_risk"),  # due today is not overdue yet
        ([task_due(None, "blocked")], "at_risk"),
        ([task_due(30, "in_progress"), task_due(10, "blocked")], "at_risk"),
        ([task_due(-1)], "overdue"),
        ([task_due(-1, "blocked"), task_due(None, "blocked")], "overdue"),
        ([task_due(-1, "done"), task_due(1, "done")], "on_track"),  # done is never late
        ([task_due(-30, "done"), task_due(2)], "at_risk"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_plan_health_with_fixed_dates(plan, expected):
    assert tasks.health(plan, DAY) == expected


def test_overdue_and_due_soon():
    assert tasks.is_overdue(task_due(-1), DAY)
    assert not tasks.is_overdue(task_due(0), DAY)
    assert not tasks.is_overdue(task_due(-1, "done"), DAY)
    assert not tasks.is_overdue(task_due(None), DAY)
    assert tasks.is_due_soon(task_due(3), DAY) and not tasks.is_due_soon(task_due(4), DAY)
    assert not tasks.is_due_soon(task_due(-1), DAY)


def test_load_plan_rolls_up_per_milestone_and_overall(session, world):
    room, seller = world["room"], sells(world)
    second = tasks.add_milestone(session, room=room, actor=seller, data={"title": "Signature"})
    late = add(
        session, world, title="Late", due_date="2026-03-09", owner_id=world["kato"].public_id
    )
    add(session, world, title="Done", due_date="2026-03-01", status="done")
    add(session, world, milestone_id=second.public_id, title="Sign", due_date="2026-04-30")
    tasks.add_comment(
        session, room=room, actor=buys(world), task=late, body="<script>x()</script>**Soon**"
    )

    plan = tasks.load_plan(session, room=room, actor=buys(world), on=DAY)

    first, last = plan.milestones
    assert [t.task.title for t in first.tasks] == ["Late", "Done"]
    assert (first.progress.done, first.progress.total, first.health) == (1, 2, "overdue")
    assert (last.progress.done, last.progress.total, last.health) == (0, 1, "on_track")
    assert (plan.progress.done, plan.progress.total, plan.health, plan.overdue) == (
        1,
        3,
        "overdue",
        1,
    )
    late_item = first.tasks[0]
    assert late_item.overdue and late_item.mine
    assert late_item.can_set_status and not late_item.can_edit  # Kato owns it, the seller added it
    assert not first.tasks[1].can_set_status
    [comment] = late_item.comments
    assert comment.author.name == "Kato" and comment.author.side == "buyer"
    assert "<script>" not in comment.html and "<strong>Soon</strong>" in comment.html


def test_load_plan_for_a_read_only_viewer(session, world):
    add(session, world)

    plan = tasks.load_plan(session, room=world["room"], actor=None, on=DAY)

    [item] = plan.milestones[0].tasks
    assert not (item.can_edit or item.can_set_status or item.mine)
    assert not tasks.can_manage(None)


def test_an_owner_who_left_stays_on_the_task(session, world):
    task = add(session, world, owner_id=world["mei"].public_id)
    revoke_invite(session, room=world["room"], seller=world["seller"], invite=world["mei"])

    tasks.update_task(
        session,
        room=world["room"],
        actor=sells(world),
        task=task,
        data={**tasks.task_values(session, task=task), "title": "Renamed"},
    )

    plan = tasks.load_plan(session, room=world["room"], actor=sells(world), on=DAY)
    owner = plan.milestones[0].tasks[0].owner
    assert (owner.id, owner.active) == (world["mei"].public_id, False)
    assert world["mei"].public_id not in [m.id for m in plan.members]


# ---------------------------------------------------------------- plans from room templates

PLAN = [
    {"milestone": "Kick-off", "title": "Agree the scope", "owner": "seller", "due": "+3 days"},
    {
        "milestone": "Technical validation",
        "title": "Security review",
        "owner": "buyer",
        "due": "+2 weeks",
    },
    {"milestone": "Kick-off", "title": "Name the champion", "owner": None, "due": None},
]


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("+7 days", 7),
        ("+1 day", 1),
        ("+0 days", 0),
        ("+2 weeks", 14),
        ("+1 week", 7),
        (" + 3 Weeks ", 21),
    ],
)
def test_relative_due_dates(text, days):
    assert tasks.relative_due(text, DAY) == DAY + timedelta(days=days)


@pytest.mark.parametrize("text", ["7 days", "+7 months", "-1 day", "+1.5 weeks", "+", "soon", 7])
def test_bad_relative_due_dates_are_refused(text):
    with pytest.raises(InvalidInput) as refused:
        tasks.relative_due(text, DAY)

    assert "+7 days" in refused.value.fields["due"]


def test_relative_due_dates_have_a_limit():
    with pytest.raises(InvalidInput):
        tasks.relative_due("+9999 days", DAY)


def test_apply_plan_builds_milestones_and_tasks(session, world):
    room = world["room"]
    world["mei"].role = "champion"

    created = tasks.apply_plan(session, room=room, user=world["seller"], plan=PLAN)

    start = room.created_at.date()
    titles = [m.title for m in tasks.list_milestones(session, room=room)]
    assert titles == ["Technical validation", "Kick-off"]  # the existing one is reused
    assert [t.title for t in tasks.list_tasks(session, room=room)] == [
        "Security review",
        "Agree the scope",
        "Name the champion",
    ]
    scope, review, champion = created
    assert (scope.owner_user_id, scope.due_date) == (world["seller"].id, start + timedelta(days=3))
    assert (review.owner_invite_id, review.due_date) == (
        world["mei"].id,
        start + timedelta(days=14),
    )
    assert (champion.owner_user_id, champion.owner_invite_id, champion.due_date) == (
        None,
        None,
        None,
    )


def test_apply_plan_owner_seller_is_the_room_owner(session, world):
    created = tasks.apply_plan(session, room=world["room"], user=world["rep"], plan=[{**PLAN[0]}])

    assert created[0].owner_user_id == world["seller"].id  # the room's owner, not the caller
    assert created[0].created_by_user_id == world["rep"].id


def test_apply_plan_buyer_is_the_first_invite_without_a_champion_or_nobody(
    session, world, services
):
    [task] = tasks.apply_plan(session, room=world["room"], user=world["seller"], plan=[PLAN[1]])
    assert task.owner_invite_id == world["kato"].id

    empty_room = factories.room(session, world["seller"], name="New deal")
    [task] = tasks.apply_plan(session, room=empty_room, user=world["seller"], plan=[PLAN[1]])
    assert task.owner_invite_id is None


def test_apply_plan_reports_every_bad_entry_and_adds_nothing(session, world):
    bad = [
        PLAN[0],
        {"milestone": "", "title": "x", "owner": "ceo", "due": "+7 months"},
        "not a dict",
        {"milestone": "M", "title": "T", "owner": None, "due": None, "colour": "red"},
    ]

    with pytest.raises(InvalidInput) as refused:
        tasks.apply_plan(session, room=world["room"], user=world["seller"], plan=bad)

    assert set(refused.value.fields) == {
        "plan.1.milestone",
        "plan.1.owner",
        "plan.1.due",
        "plan.2",
        "plan.3.colour",
    }
    assert tasks.list_tasks(session, room=world["room"]) == []
    assert [m.title for m in tasks.list_milestones(session, room=world["room"])] == [
        "Technical validation"
    ]


def test_apply_plan_is_for_sellers_of_the_room(session, world):
    with pytest.raises(NotFound):
        tasks.apply_plan(session, room=world["room"], user=world["rival"], plan=PLAN)


# ---------------------------------------------------------------- order


def titles(session, world):
    """{milestone title: [task titles in plan order]}, and every milestone's positions dense."""
    plan = tasks.load_plan(session, room=world["room"], actor=sells(world))
    positions = [m.milestone.position for m in plan.milestones]
    assert positions == list(range(1, len(positions) + 1)), positions
    out = {}
    for m in plan.milestones:
        dense = [item.task.position for item in m.tasks]
        assert dense == list(range(1, len(dense) + 1)), (m.milestone.title, dense)
        out[m.milestone.title] = [item.task.title for item in m.tasks]
    return out


@pytest.fixture
def ordered(session, world):
    """Milestones "Technical validation" (A, B, C) and "Commercials" (D)."""
    found = {t: add(session, world, title=t) for t in "ABC"}
    commercials = tasks.add_milestone(
        session, room=world["room"], actor=sells(world), data={"title": "Commercials"}
    )
    found["D"] = add(session, world, title="D", milestone_id=commercials.public_id)
    found["commercials"] = commercials
    session.flush()
    return found


def move(session, world, task, actor=None, **how):
    return tasks.move_task(
        session, room=world["room"], actor=actor or sells(world), task=task, **how
    )


def test_a_seller_moves_a_task_up_and_down_within_its_milestone(session, world, ordered):
    move(session, world, ordered["C"], direction="up")
    assert titles(session, world)["Technical validation"] == ["A", "C", "B"]

    move(session, world, ordered["A"], direction="down")
    assert titles(session, world)["Technical validation"] == ["C", "A", "B"]

    # At either end a step goes nowhere.
    move(session, world, ordered["C"], direction="up")
    move(session, world, ordered["B"], direction="down")
    assert titles(session, world) == {"Technical validation": ["C", "A", "B"], "Commercials": ["D"]}


def test_a_task_moves_into_another_milestone_at_a_place_or_last(session, world, ordered):
    commercials = ordered["commercials"].public_id

    move(session, world, ordered["B"], milestone_id=commercials, position="1")
    assert titles(session, world) == {"Technical validation": ["A", "C"], "Commercials": ["B", "D"]}

    move(session, world, ordered["A"], milestone_id=commercials)  # no place: last
    move(session, world, ordered["C"], milestone_id=commercials, position="99")  # past the end
    assert titles(session, world) == {
        "Technical validation": [],
        "Commercials": ["B", "D", "A", "C"],
    }
    assert ordered["C"].milestone_id == ordered["commercials"].id


def test_a_task_takes_a_place_in_its_own_milestone(session, world, ordered):
    """What a drag and drop within one milestone sends."""
    milestone = world["milestone"].public_id

    move(session, world, ordered["C"], milestone_id=milestone, position="1")
    assert titles(session, world)["Technical validation"] == ["C", "A", "B"]
    move(session, world, ordered["C"], milestone_id=milestone, position="2")
    assert titles(session, world)["Technical validation"] == ["A", "C", "B"]


def test_milestones_move_up_and_down_with_their_tasks(session, world, ordered):
    tasks.move_milestone(
        session,
        room=world["room"],
        actor=sells(world),
        milestone=ordered["commercials"],
        direction="up",
    )
    assert list(titles(session, world)) == ["Commercials", "Technical validation"]
    assert titles(session, world)["Commercials"] == ["D"]

    tasks.move_milestone(
        session,
        room=world["room"],
        actor=sells(world),
        milestone=world["milestone"],
        direction="up",
    )
    assert list(titles(session, world)) == ["Technical validation", "Commercials"]


@pytest.mark.parametrize(
    ("how", "field"),
    [
        ({}, "direction"),
        ({"direction": "sideways"}, "direction"),
        ({"milestone_id": "ms_nope"}, "milestone_id"),
        ({"milestone_id": "task_abc"}, "milestone_id"),
        ({"milestone_id": "MILESTONE", "position": "first"}, "position"),
        ({"milestone_id": "MILESTONE", "position": "0"}, "position"),
        ({"milestone_id": "MILESTONE", "position": "\x00"}, "position"),
    ],
)
def test_a_bad_move_names_the_field_and_changes_nothing(session, world, ordered, how, field):
    how = {k: world["milestone"].public_id if v == "MILESTONE" else v for k, v in how.items()}
    before = titles(session, world)

    with pytest.raises(InvalidInput) as caught:
        move(session, world, ordered["B"], **how)

    assert list(caught.value.fields) == [field]
    assert titles(session, world) == before


@pytest.mark.parametrize("direction", ["", None, "left", "UP "])
def test_a_milestone_moves_up_or_down_only(session, world, ordered, direction):
    with pytest.raises(InvalidInput) as caught:
        tasks.move_milestone(
            session,
            room=world["room"],
            actor=sells(world),
            milestone=world["milestone"],
            direction=direction,
        )
    assert caught.value.fields == {"direction": "Direction must be one of: up, down."}
    assert list(titles(session, world)) == ["Technical validation", "Commercials"]


def test_a_task_cannot_move_to_a_milestone_of_another_room(session, world, ordered):
    elsewhere = tasks.add_milestone(
        session, room=world["other_room"], actor=sells(world), data={"title": "Elsewhere"}
    )

    with pytest.raises(InvalidInput) as caught:
        move(session, world, ordered["A"], milestone_id=elsewhere.public_id)

    assert caught.value.fields == {"milestone_id": "No such milestone in this room."}
    assert ordered["A"].milestone_id == world["milestone"].id


def test_buyers_do_not_reorder_the_plan_not_even_their_own_tasks(session, world, ordered):
    theirs = add(session, world, actor=buys(world), title="E")
    before = titles(session, world)

    for task in (theirs, ordered["A"]):
        with pytest.raises(PermissionDenied):
            move(session, world, task, actor=buys(world), direction="up")
        with pytest.raises(PermissionDenied):
            move(
                session,
                world,
                task,
                actor=buys(world),
                milestone_id=ordered["commercials"].public_id,
            )
    with pytest.raises(PermissionDenied):
        tasks.move_milestone(
            session,
            room=world["room"],
            actor=buys(world),
            milestone=world["milestone"],
            direction="down",
        )

    assert titles(session, world) == before
    assert not tasks.can_reorder(buys(world)) and tasks.can_reorder(sells(world))
    # ... though a buyer may still file a task they added under another milestone (it goes last).
    tasks.update_task(
        session,
        room=world["room"],
        actor=buys(world),
        task=theirs,
        data={"milestone_id": ordered["commercials"].public_id},
    )
    assert titles(session, world) == {
        "Technical validation": ["A", "B", "C"],
        "Commercials": ["D", "E"],
    }


def test_moves_are_refused_in_an_archived_room_and_to_outsiders(session, world, ordered):
    with pytest.raises((NotFound, PermissionDenied)):
        move(session, world, ordered["A"], actor=Actor(user=world["rival"]), direction="down")
    with pytest.raises((NotFound, PermissionDenied)):
        move(session, world, ordered["A"], actor=Actor(invite=world["stranger"]), direction="down")
    archive_room(session, room=world["room"])
    with pytest.raises(Conflict):
        move(session, world, ordered["A"], direction="down")
    assert [ordered[t].position for t in "ABC"] == [1, 2, 3]


def test_deleting_and_refiling_keep_positions_dense(session, world, ordered):
    tasks.delete_task(session, room=world["room"], actor=sells(world), task=ordered["A"])
    assert titles(session, world)["Technical validation"] == ["B", "C"]  # dense, checked inside

    tasks.update_task(
        session,
        room=world["room"],
        actor=sells(world),
        task=ordered["B"],
        data={"milestone_id": ordered["commercials"].public_id},
    )
    assert titles(session, world) == {"Technical validation": ["C"], "Commercials": ["D", "B"]}

    middle = tasks.add_milestone(
        session, room=world["room"], actor=sells(world), data={"title": "Legal"}
    )
    tasks.delete_milestone(
        session, room=world["room"], actor=sells(world), milestone=ordered["commercials"]
    )
    assert titles(session, world) == {"Technical validation": ["C"], "Legal": []}
    assert middle.position == 2


def test_ties_are_broken_by_id_and_a_move_makes_positions_dense_again(session, world, ordered):
    # Positions a concurrent writer without the lock could have left: all the same.
    for letter in "ABC":
        ordered[letter].position = 7
    session.flush()
    plan = tasks.load_plan(session, room=world["room"], actor=sells(world))
    assert [i.task.title for i in plan.milestones[0].tasks] == ["A", "B", "C"]
    assert [t.title for t in tasks.list_tasks(session, room=world["room"])] == ["A", "B", "C", "D"]

    move(session, world, ordered["C"], direction="up")

    assert titles(session, world)["Technical validation"] == ["A", "C", "B"]
    assert [ordered[t].position for t in "ACB"] == [1, 2, 3]


def test_moves_are_audited(session, world, ordered):
    from dealroom.audit import AuditEvent

    move(session, world, ordered["A"], direction="down")
    tasks.move_milestone(
        session,
        room=world["room"],
        actor=sells(world),
        milestone=world["milestone"],
        direction="down",
    )
    actions = [
        (e.action, e.target)
        for e in session.exec(select(AuditEvent).where(AuditEvent.action.like("%.moved")))
    ]
    assert actions == [
        ("task.moved", ordered["A"].public_id),
        ("milestone.moved", world["milestone"].public_id),
    ]


# ---------------------------------------------------------------- concurrent moves


def test_concurrent_moves_never_leave_two_tasks_in_one_place(committed):
    """Four sellers reorder one plan at once. Without the plan lock, two swaps that read the same
    positions write duplicates on PostgreSQL (SQLite runs one writer at a time anyway)."""
    with committed.session() as session:
        seller = factories.seller(session, org="Northwind")
        room = factories.room(session, seller)
        actor = Actor(user=seller)
        milestones = [
            tasks.add_milestone(session, room=room, actor=actor, data={"title": title})
            for title in ("Validation", "Commercials")
        ]
        task_ids = [
            tasks.add_task(
                session,
                room=room,
                actor=actor,
                data={"milestone_id": milestones[n % 2].public_id, "title": f"Task {n}"},
            ).public_id
            for n in range(8)
        ]
        ids = (room.id, seller.id, [m.public_id for m in milestones])
    room_id, seller_id, milestone_ids = ids
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def reorder(n: int) -> None:
        rng = random.Random(n)
        start.wait()
        try:
            for _ in range(25):
                with committed.session() as session:
                    room = session.get(Room, room_id)
                    actor = Actor(user=session.get(User, seller_id))
                    task = tasks.get_task(session, room=room, task_id=rng.choice(task_ids))
                    if rng.random() < 0.3:
                        tasks.move_task(
                            session,
                            room=room,
                            actor=actor,
                            task=task,
                            milestone_id=rng.choice(milestone_ids),
                            position=str(rng.randint(1, 6)),
                        )
                    else:
                        direction = rng.choice(["up", "down"])
                        tasks.move_task(
                            session, room=room, actor=actor, task=task, direction=direction
                        )
        except BaseException as exc:  # reported below, with the thread's traceback
            failures.append(exc)

    threads = [threading.Thread(target=reorder, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    with committed.session(write=False) as session:
        rows = session.exec(select(Task.milestone_id, Task.position, Task.public_id)).all()
    assert sorted(public_id for _m, _p, public_id in rows) == sorted(task_ids)
    for milestone_id in {m for m, _p, _t in rows}:
        positions = sorted(p for m, p, _t in rows if m == milestone_id)
        assert positions == list(range(1, len(positions) + 1)), positions


def test_a_move_waits_for_the_one_in_progress_and_builds_on_it(committed):
    """Deterministic: B starts while A's move is uncommitted, so it must wait and then see A's
    order. Without the lock B would reorder from the old positions and duplicate one."""
    with committed.session() as session:
        seller = factories.seller(session, org="Northwind")
        room = factories.room(session, seller)
        actor = Actor(user=seller)
        milestone = tasks.add_milestone(session, room=room, actor=actor, data={"title": "Plan"})
        made = {
            title: tasks.add_task(
                session,
                room=room,
                actor=actor,
                data={"milestone_id": milestone.public_id, "title": title},
            ).public_id
            for title in "ABC"
        }
        room_id, seller_id = room.id, seller.id

    def move_up(session: Any, title: str) -> None:
        room = session.get(Room, room_id)
        actor = Actor(user=session.get(User, seller_id))
        task = tasks.get_task(session, room=room, task_id=made[title])
        tasks.move_task(session, room=room, actor=actor, task=task, direction="up")

    second_done = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with committed.session() as session:
                move_up(session, "B")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            second_done.set()

    with committed.session() as session:
        move_up(session, "C")  # A, C, B: not committed yet
        session.flush()
        thread = threading.Thread(target=second)
        thread.start()
        assert not second_done.wait(0.5), "the second move did not wait for the first"
    thread.join(timeout=30)

    assert not errors, errors
    with committed.session(write=False) as session:
        rows = session.exec(select(Task.title, Task.position).order_by(Task.position)).all()
    assert list(rows) == [("A", 1), ("B", 2), ("C", 3)]
