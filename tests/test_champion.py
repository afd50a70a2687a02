"""Champion view: the seller's switch, who was told (the notice), and opened / not yet / paused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from dealroom import champion, content, invites, tracking
from dealroom.audit import AuditEvent
from dealroom.db import pk, utcnow
from dealroom.errors import InvalidInput, NotFound
from dealroom.tracking import ViewerItemStat
from tests import factories


@pytest.fixture
def world(session, services):
    user = factories.seller(session)
    room = factories.room(session, user)

    def person(name, role=""):
        return factories.invite(
            session,
            services,
            room,
            user,
            email=f"{name.lower()}@acme.example",
            name=name,
            role=role,
        )

    people = {
        "sato": person("Sato", "champion"),
        "kato": person("Kato", "technical_evaluator"),
        "mori": person("Mori"),
        "ito": person("Ito"),
    }
    pricing = content.add_link(
        session, room=room, user=user, url="https://p.example/", title="Pricing"
    )
    security = content.add_link(
        session, room=room, user=user, url="https://s.example/", title="Security"
    )
    session.flush()
    return {"user": user, "room": room, "pricing": pricing, "security": security, **people}


def _opened(session, world, invite, item):
    session.add(
        ViewerItemStat(
            org_id=world["room"].org_id,
            room_id=pk(world["room"]),
            invite_id=pk(invite),
            room_item_id=pk(item),
            opens=1,
        )
    )


def test_off_by_default_and_only_for_the_champion(session, world):
    room = world["room"]
    with pytest.raises(NotFound):
        champion.champion_view(session, room=room, viewer=world["sato"])
    assert champion.notice(session, room=room, invite=world["kato"]) == champion.Notice(
        False, False
    )
    champion.set_enabled(session, room=room, user=world["user"], enabled=True)
    with pytest.raises(NotFound):
        champion.champion_view(session, room=room, viewer=world["kato"])
    assert champion.champion_view(session, room=room, viewer=world["sato"]).colleagues == []


def test_switching_is_audited_and_idempotent(session, world):
    room, user = world["room"], world["user"]
    champion.set_enabled(session, room=room, user=user, enabled=True)
    champion.set_enabled(session, room=room, user=user, enabled=True)
    champion.set_enabled(session, room=room, user=user, enabled=False)
    assert champion.enabled_at(session, room=room) is None
    actions = session.exec(
        select(AuditEvent.action).where(AuditEvent.target == room.public_id)
    ).all()
    assert [a for a in actions if a.startswith("room.champion")] == [
        "room.champion_enabled",
        "room.champion_disabled",
    ]


def test_colleagues_appear_once_told_with_opened_not_yet_or_paused(session, world):
    room, sato, kato, mori, ito = (world[k] for k in ("room", "sato", "kato", "mori", "ito"))
    # Kato answered the tracking notice before the view was enabled.
    tracking.acknowledge_notice(kato)
    champion.set_enabled(session, room=room, user=world["user"], enabled=True)
    _opened(session, world, kato, world["pricing"])
    _opened(session, world, mori, world["pricing"])
    tracking.set_paused(mori, True)

    # Nobody was shown the notice naming the view yet: nobody is listed.
    view = champion.champion_view(session, room=room, viewer=sato)
    assert view.colleagues == [] and view.hidden == 3

    # Kato's next room page shows the notice again, naming the view: from then on Kato is listed.
    shown = champion.notice(session, room=room, invite=kato)
    assert shown.mention and shown.pending and not shown.champion
    champion.notice(session, room=room, invite=mori)
    view = champion.champion_view(session, room=room, viewer=sato)
    assert [c.name for c in view.colleagues] == ["Kato", "Mori"] and view.hidden == 1
    statuses = {
        (item.title, c.name): view.status(item.item.id, c)
        for item in view.content.items
        for c in view.colleagues
    }
    assert statuses == {
        ("Pricing", "Kato"): "opened",
        ("Security", "Kato"): "not_yet",
        ("Pricing", "Mori"): "paused",  # never "not yet" or "opened" once paused
        ("Security", "Mori"): "paused",
    }
    assert [c.opened for c in view.colleagues] == [1, 0]

    # The notice stays until answered; the champion gets the link.
    champion.answer_notice(session, room=room, invite=kato)
    assert champion.notice(session, room=room, invite=kato).pending is False
    assert champion.notice(session, room=room, invite=sato).champion is True

    # Revoked colleagues leave the view; Ito (never told) is still not listed.
    invites.revoke_invite(session, room=room, seller=world["user"], invite=kato)
    view = champion.champion_view(session, room=room, viewer=sato)
    assert [c.name for c in view.colleagues] == ["Mori"]
    assert ito.public_id not in {c.public_id for c in view.colleagues}


def test_enabling_again_asks_everyone_again(session, world):
    room, user, kato = world["room"], world["user"], world["kato"]
    earlier = utcnow() - timedelta(days=1)
    champion.set_enabled(session, room=room, user=user, enabled=True)
    champion.notice(session, room=room, invite=kato, now=utcnow())
    champion.answer_notice(session, room=room, invite=kato)
    assert [
        c.name for c in champion.champion_view(session, room=room, viewer=world["sato"]).colleagues
    ] == ["Kato"]
    row = session.exec(
        select(champion.ChampionNotice).where(champion.ChampionNotice.invite_id == kato.id)
    ).one()
    row.shown_at = row.answered_at = earlier  # told about an earlier switch-on
    champion.set_enabled(session, room=room, user=user, enabled=False)
    champion.set_enabled(session, room=room, user=user, enabled=True)
    assert champion.champion_view(session, room=room, viewer=world["sato"]).colleagues == []
    assert champion.notice(session, room=room, invite=kato).pending is True


def test_a_seller_preview_lists_everyone_told(session, world):
    room = world["room"]
    champion.set_enabled(session, room=room, user=world["user"], enabled=True)
    champion.notice(session, room=room, invite=world["sato"])
    champion.notice(session, room=room, invite=world["kato"])
    view = champion.champion_view(session, room=room, viewer=None)
    assert [c.name for c in view.colleagues] == ["Sato", "Kato"]


def test_key_items_narrow_the_view_and_go_with_the_item(session, world):
    room, user, sato, kato = world["room"], world["user"], world["sato"], world["kato"]
    champion.set_enabled(session, room=room, user=user, enabled=True)
    champion.notice(session, room=room, invite=kato)
    _opened(session, world, kato, world["security"])
    # No key items marked: every item of the room.
    view = champion.champion_view(session, room=room, viewer=sato)
    assert [v.title for v in view.content.items] == ["Pricing", "Security"] and not view.key_only

    security = world["security"].public_id
    assert champion.set_key_items(session, room=room, user=user, item_ids=[security]) == {
        pk(world["security"])
    }
    view = champion.champion_view(session, room=room, viewer=sato)
    assert [v.title for v in view.content.items] == ["Security"] and view.key_only
    assert [c.opened for c in view.colleagues] == [1]
    audited = session.exec(
        select(AuditEvent).where(AuditEvent.action == "room.champion_items")
    ).all()
    assert len(audited) == 1

    # An item of another room (or a made-up id) changes nothing.
    other = factories.room(session, user, name="Other deal")
    foreign = content.add_link(session, room=other, user=user, url="https://o.example/", title="X")
    session.flush()
    for bad in ([foreign.public_id], [security, "item_nope"]):
        with pytest.raises(InvalidInput) as caught:
            champion.set_key_items(session, room=room, user=user, item_ids=bad)
        assert "items" in caught.value.fields
    assert champion.key_items(session, room=room) == {pk(world["security"])}

    # Taking the item out of the room takes it off the key list: every item again.
    content.remove_item(
        session, room=room, view=content.get_item(session, room=room, item_id=security)
    )
    session.expire_all()
    assert champion.key_items(session, room=room) == set()
    view = champion.champion_view(session, room=room, viewer=sato)
    assert [v.title for v in view.content.items] == ["Pricing"] and not view.key_only
    # Choosing none again (already none) records nothing new.
    champion.set_key_items(session, room=room, user=user, item_ids=[])
    assert (
        len(
            session.exec(select(AuditEvent).where(AuditEvent.action == "room.champion_items")).all()
        )
        == 1
    )
