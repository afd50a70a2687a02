"""Suggestions: every hard rule of issue 5 and each principle of PERSONALIZATION.md (P1-P12),
named in the test's docstring. Reading is produced through tracking's own writer (beats and
server events), so these tests read the same rollups the app reads."""

from __future__ import annotations

import io
import time
import uuid
from datetime import date, timedelta

import pytest
from sqlmodel import select

from dealroom import content, i18n, invites, suggestions, tracking
from dealroom.content import Upload
from dealroom.db import pk, utcnow
from dealroom.errors import InvalidInput, NotFound
from dealroom.invites import Invite
from dealroom.pdfgen import simple_pdf
from dealroom.suggestions import SuggestionItem, SuggestionViewer
from dealroom.tasks import Milestone, Task
from dealroom.tracking import Beat, DropCounter, ItemTime
from tests import factories

PDF1 = simple_pdf([["one page"]])


# ---------------------------------------------------------------- building a room


class World:
    def __init__(self, session, services, *, items: int = 8, stage: str = "discovery") -> None:
        self.session, self.services = session, services
        self.user = factories.seller(session)
        self.room = factories.room(session, self.user, stage=stage)
        self.kato = self.person("kato@acme.example", "Kato", "technical_evaluator")
        self.items = [self.link(f"Item {n}") for n in range(1, items + 1)]
        session.flush()

    def person(self, email: str, name: str, role: str = "", room=None) -> Invite:
        invite = factories.invite(
            self.session,
            self.services,
            room or self.room,
            self.user,
            email=email,
            name=name,
            role=role,
        )
        tracking.show_notice(invite)
        return invite

    def link(self, title: str, *, room=None, section=None, stages="", roles="", url=None):
        return content.add_link(
            self.session,
            room=room or self.room,
            user=self.user,
            url=url or f"https://docs.example/{uuid.uuid4().hex[:8]}",
            title=title,
            section=section,
            stages_=stages,
            roles_=roles,
        )

    def pdf(self, title: str, *, section=None, stages="", roles=""):
        return content.add_file(
            self.session,
            storage=self.services.storage,
            room=self.room,
            user=self.user,
            upload=Upload("doc.pdf", io.BytesIO(PDF1), len(PDF1)),
            title=title,
            section=section,
            stages_=stages,
            roles_=roles,
        )

    def read(self, invite, item, seconds: int, *, page=None, at: float | None = None, room=None):
        """`seconds` of active time on `item`, as track.js would report it."""
        at = at or time.time()
        beat = Beat(
            received_at=at,
            room=(room or self.room).public_id,
            invite=invite.public_id,
            stream=uuid.uuid4().hex[:20],
            issued_at=at - 3000,
            seq=1,
            events=(ItemTime(item.public_id, seconds, page=page),),
            inputs=1,
        )
        assert tracking.apply_beats(self.session, [beat], drops=DropCounter()) == 1
        self.session.flush()

    def suggest(self, invite=None, **kw):
        kw.setdefault("holdout_percent", 0)
        return suggestions.suggest(self.session, room=self.room, invite=invite or self.kato, **kw)

    def panel(self, invite=None, **kw):
        kw.setdefault("holdout_percent", 0)
        found = suggestions.panel(self.session, room=self.room, invite=invite or self.kato, **kw)
        self.session.flush()
        return found


def ids(found) -> list[str]:
    return [s.content_id for s in found.items]


@pytest.fixture
def world(session, services) -> World:
    return World(session, services)


# ---------------------------------------------------------------- the score and its reasons


def test_stage_fit_puts_the_rooms_stage_first_and_says_so(session, services):
    """P8: the room's deal stage against the items' stage tags, with the reason."""
    w = World(session, services, stage="evaluation")
    fit = w.link("Evaluation guide", stages="evaluation")
    session.flush()
    found = w.suggest()
    assert found.mode == "personalized"
    assert ids(found)[0] == fit.public_id
    assert found.items[0].reasons[0] == "Fits where your deal is now: Evaluation."


def test_viewer_progress_brings_the_next_stage(session, services):
    """P8: a viewer who covered most of the current stage gets the next stage's material."""
    w = World(session, services, stage="discovery")
    intro = w.pdf("Intro", stages="discovery")
    nxt = w.link("Evaluation checklist", stages="evaluation")
    session.flush()
    assert nxt.public_id not in ids(w.suggest())
    w.read(w.kato, intro, 8, page=1)  # the only discovery item, read to the end
    found = w.suggest()
    assert intro.public_id not in ids(found)
    assert ids(found)[0] == nxt.public_id
    assert "this is the next step" in found.items[0].reasons[0]


def test_role_fit_and_committee_signal_name_the_colleague(session, services):
    """P7: the viewer's committee role against the items' roles, and what a colleague of the same
    buyer company read, named with their role and minutes."""
    w = World(session, services)
    sec = w.link("Security whitepaper")
    api = w.link("API reference", roles="technical_evaluator")
    suzuki = w.person("suzuki@acme.example", "Suzuki", "end_user")
    outsider = w.person("mei@partner.example", "Mei", "other")  # a consultant: another company
    session.flush()
    w.read(suzuki, sec, 14 * 60)
    w.read(outsider, w.items[5], 30 * 60)
    found = w.suggest()
    by_id = {s.content_id: s for s in found.items}
    assert by_id[api.public_id].reasons == ["Picked for your role: Technical evaluator."]
    assert by_id[sec.public_id].reasons == [
        "Your colleague Suzuki (End user) spent 14 min on this."
    ]
    assert w.items[5].public_id not in by_id  # Mei is not Kato's colleague
    assert all("Mei" not in r for s in found.items for r in s.reasons)


def test_own_interest_decays_with_the_half_life(session, services):
    """P3: recent reading outweighs old; the half-life setting sets how fast."""
    w = World(session, services)
    old_sec, new_sec = (content.add_section(session, room=w.room, title=t) for t in ("Old", "New"))
    old_read = w.link("Old topic A", section=old_sec)
    old_next = w.link("Old topic B", section=old_sec)
    new_read = w.link("New topic A", section=new_sec)
    new_next = w.link("New topic B", section=new_sec)
    session.flush()
    w.read(w.kato, old_read, 600, at=time.time() - 30 * 86400)
    w.read(w.kato, new_read, 600)
    found = w.suggest(half_life_days=7)
    order = ids(found) + [s.content_id for s in found.rest]
    assert order.index(new_next.public_id) < order.index(old_next.public_id)
    top = found.items[0]
    assert top.content_id in (new_next.public_id, new_read.public_id)
    assert any(
        "“New topic A”, which you read recently" in r
        for r in found.items[0].reasons + found.items[1].reasons
    )
    # With a very long half-life the month-old reading counts about as much as today's.
    slow = w.suggest(half_life_days=10_000)
    weights = {s.content_id: s.score for s in slow.items + slow.rest}
    assert abs(weights[old_next.public_id] - weights[new_next.public_id]) < 0.1


def test_co_engagement_across_the_orgs_rooms_counts_people_never_names(session, services):
    """Item-to-item across deals: only aggregates cross rooms, never another buyer's identity."""
    w = World(session, services)
    roi = w.link("ROI calculator")
    case = w.link("Case study")
    other = factories.room(
        session, w.user, name="Globex", buyer_company="Globex", allowed_domains="globex.example"
    )
    o_roi = w.link("ROI calculator", room=other)
    o_case = w.link("Case study", room=other)
    session.flush()
    # Same documents in both rooms: the library's; here, matched by document, so share them.
    o_roi.document_id, o_case.document_id = roi.document_id, case.document_id
    session.flush()
    t0 = time.time() - 3600
    for n, name in enumerate(("Tanaka", "Sato")):
        person = w.person(f"p{n}@globex.example", name, room=other)
        w.read(person, o_roi, 120, at=t0, room=other)
        w.read(person, o_case, 120, at=t0 + 60, room=other)
    w.read(w.kato, roi, 120)
    found = w.suggest()
    reasons = {s.content_id: s.reasons for s in found.items + found.rest}
    assert (
        "In similar deals, 2 people who read “ROI calculator” went on to read this."
        in reasons[case.public_id]
    )
    assert not any("Tanaka" in r or "Sato" in r for rs in reasons.values() for r in rs)


def test_co_engagement_counts_only_what_was_read_after_and_follows_new_reading(session, services):
    """Co-engagement is "went on to read": reading in the other order does not count. Other
    deals' counts are kept for a minute, but which of them apply is the viewer's own reading,
    taken on every call, so what they just read moves the result at once (P4)."""
    w = World(session, services)
    guide, roi, case = w.link("Guide"), w.link("ROI"), w.link("Case")
    other = factories.room(
        session, w.user, name="Globex", buyer_company="Globex", allowed_domains="globex.example"
    )
    theirs = [w.link(t, room=other) for t in ("Guide", "ROI", "Case")]
    session.flush()
    for mine, o in zip((guide, roi, case), theirs, strict=True):
        o.document_id = mine.document_id
    session.flush()
    t0 = time.time() - 3600
    for n in range(2):
        person = w.person(f"p{n}@globex.example", f"P{n}", room=other)
        for k, o in enumerate(theirs):  # Guide, then ROI, then Case
            w.read(person, o, 120, at=t0 + 60 * k, room=other)

    def similar(found):
        return {
            s.content_id: r
            for s in found.items + found.rest
            for r in s.reasons
            if "similar deals" in r
        }

    w.read(w.kato, case, 120)  # nobody in the other deal read anything after Case
    assert similar(w.suggest()) == {}
    w.read(w.kato, guide, 300)  # just now: the cached counts for Guide apply at once
    assert similar(w.suggest()) == {
        roi.public_id: "In similar deals, 2 people who read “Guide” went on to read this."
    }


def test_one_person_in_another_deal_is_not_enough_to_show(session, services):
    """Co-engagement from a single person could identify them: it needs at least two."""
    w = World(session, services)
    roi, case = w.link("ROI"), w.link("Case")
    other = factories.room(
        session, w.user, name="Globex", buyer_company="Globex", allowed_domains=""
    )
    o_roi, o_case = w.link("ROI", room=other), w.link("Case", room=other)
    session.flush()
    o_roi.document_id, o_case.document_id = roi.document_id, case.document_id
    session.flush()
    person = w.person("solo@globex.example", "Solo", room=other)
    w.read(person, o_roi, 120, at=time.time() - 600, room=other)
    w.read(person, o_case, 120, room=other)
    w.read(w.kato, roi, 120)
    found = w.suggest()
    assert not any("similar deals" in r for s in found.items + found.rest for r in s.reasons)


def test_seller_pins_for_a_person_and_for_a_role(world, session):
    """Seller intent: pinned for this person or their role, and the reason says who picked it."""
    w = world
    suggestions.pin(
        session, room=w.room, user=w.user, item_id=w.items[7].public_id, target=w.kato.public_id
    )
    suggestions.pin(
        session,
        room=w.room,
        user=w.user,
        item_id=w.items[6].public_id,
        target="technical_evaluator",
    )
    found = w.suggest(seller_name="Yamada")
    assert ids(found)[:2] == [w.items[7].public_id, w.items[6].public_id]
    assert found.items[0].reasons == ["Yamada picked this for you."]
    assert found.items[1].reasons == [
        "Yamada picked this for everyone in the Technical evaluator role."
    ]
    assert [p.target for p in suggestions.list_pins(session, room=w.room)] == [
        "Kato",
        "Technical evaluator",
    ]
    with pytest.raises(InvalidInput) as caught:
        suggestions.pin(session, room=w.room, user=w.user, item_id="item_nope", target="ceo")
    assert set(caught.value.fields) == {"item_id", "target"}
    pin = suggestions.list_pins(session, room=w.room)[0]
    suggestions.unpin(session, room=w.room, pin_id=pin.public_id)
    with pytest.raises(NotFound):
        suggestions.unpin(session, room=w.room, pin_id=pin.public_id)


def test_every_suggestion_has_a_reason_in_the_viewers_language(world):
    """P6: every suggestion carries its reason in plain words, in the viewer's language."""
    found = world.suggest()
    assert all(s.reasons for s in found.items)
    assert found.items[0].reasons == ["Next in the order your contact arranged."]
    with i18n.using("ja"):
        ja = world.suggest(seller_name="山田")
    assert ja.items[0].reasons == ["山田が設定した順番の次の資料です。"]
    assert ja.note and ja.note != found.note


# ---------------------------------------------------------------- hard rules


def test_consumed_items_are_never_suggested_unless_a_newer_version_came(session, services):
    """P2: read to 80 % or downloaded -> never suggested again, unless a newer version exists."""
    w = World(session, services)
    deck = w.pdf("Deck")
    session.flush()
    w.read(w.kato, deck, 6, page=1)  # the one page, past the 5 s that count as read
    content.mark_seen(
        session, invite=w.kato, view=content.get_item(session, room=w.room, item_id=deck.public_id)
    )
    tracking.record(session, invite=w.kato, event=tracking.Downloaded(item_id=pk(w.items[0])))
    session.flush()
    found = w.suggest()
    shown = ids(found) + [s.content_id for s in found.rest]
    assert deck.public_id not in shown and w.items[0].public_id not in shown
    content.add_version(
        session,
        storage=services.storage,
        document=content.get_item(session, room=w.room, item_id=deck.public_id).document,
        user=w.user,
        upload=Upload("doc.pdf", io.BytesIO(PDF1), len(PDF1)),
    )
    session.flush()
    found = w.suggest()
    again = {s.content_id: s for s in found.items + found.rest}
    assert "Updated since you read it." in again[deck.public_id].reasons
    assert w.items[0].public_id not in again


def test_an_item_shown_three_times_without_an_open_rests_for_seven_days(world, session):
    """P5: frequency cap: 3 impressions without an open -> rested 7 days, then back."""
    w = world
    now = utcnow()
    first = w.panel(now=now)
    target = first.items[0].content_id
    w.panel(now=now + timedelta(hours=1))  # rotated: target may or may not be shown
    for n in range(2, 8):
        if target not in ids(w.suggest(now=now + timedelta(hours=n))):
            break
        w.panel(now=now + timedelta(hours=n))
    state = session.exec(select(SuggestionItem).where(SuggestionItem.invite_id == w.kato.id)).all()
    rested = [s for s in state if s.rest_until is not None]
    assert rested and all(s.impressions == 3 for s in rested)
    rested_ids = {i.public_id for i in w.items if i.id in {s.room_item_id for s in rested}}
    assert not rested_ids & set(ids(w.suggest(now=now + timedelta(days=6))))
    later = w.suggest(now=now + timedelta(days=8))
    assert rested_ids & set(ids(later) + [s.content_id for s in later.rest])


def test_opening_an_item_starts_its_cap_again(world, session):
    """P5: the cap counts impressions *without an open*."""
    w = world
    deck = w.pdf("Deck")  # opening a PDF is not reading it to the end: still eligible
    suggestions.pin(
        session, room=w.room, user=w.user, item_id=deck.public_id, target=w.kato.public_id
    )
    now = utcnow()
    w.panel(now=now)
    w.panel(now=now + timedelta(minutes=1), refresh=True)

    def state():  # the panel writes its rows in one statement: read them again each time
        query = select(SuggestionItem).where(SuggestionItem.room_item_id == deck.id)
        return session.exec(query.execution_options(populate_existing=True)).one()

    assert (state().impressions, state().since_open) == (1, 1)  # a refresh is not a new one
    w.panel(now=now + timedelta(minutes=2))
    assert (state().impressions, state().since_open) == (1, 1)  # the same visit: one showing
    w.panel(now=now + timedelta(hours=2))
    assert (state().impressions, state().since_open) == (2, 2)
    tracking.record(session, invite=w.kato, event=tracking.ItemOpened(item_id=pk(deck)))
    w.panel(now=now + timedelta(hours=3))
    assert (state().impressions, state().since_open, state().rest_until) == (3, 1, None)


def test_the_panel_never_shows_the_same_set_twice_in_a_row(world):
    """P5: a fresh display never repeats the previous set when alternatives exist; a refresh of
    the panel on screen keeps it unless the ranking changed (no churn every 15 s)."""
    w = world
    a = w.panel()
    b = w.panel()
    assert set(ids(a)) != set(ids(b))
    assert set(ids(w.panel(refresh=True))) == set(ids(b))


def test_a_dismissed_item_stays_gone(world, session):
    """P1: "not relevant" is the buyer's choice; it stays gone, even with suggestions off."""
    w = world
    gone = w.suggest().items[0].content_id
    suggestions.dismiss(session, room=w.room, invite=w.kato, item_id=gone)
    session.flush()
    assert gone not in ids(w.suggest()) + [s.content_id for s in w.suggest().rest]
    suggestions.set_off(session, room=w.room, invite=w.kato, off=True)
    assert gone not in ids(w.suggest())
    with pytest.raises(NotFound):
        suggestions.dismiss(session, room=w.room, invite=w.kato, item_id="item_elsewhere")


def test_turning_suggestions_off_shows_the_sellers_order(world, session):
    """P1: the buyer's switch; off -> the seller's order, labelled; on -> suggestions again."""
    w = world
    suggestions.pin(
        session, room=w.room, user=w.user, item_id=w.items[7].public_id, target=w.kato.public_id
    )
    suggestions.set_off(session, room=w.room, invite=w.kato, off=True)
    found = w.panel()
    assert found.off and found.mode == "seller_order"
    assert ids(found) == [i.public_id for i in w.items[:3]]
    assert found.note.startswith("Suggestions are off")
    assert not session.exec(select(SuggestionItem)).all()  # nothing counted while off
    suggestions.set_off(session, room=w.room, invite=w.kato, off=False)
    assert w.suggest().mode == "personalized"


def test_tracking_paused_uses_only_non_personal_signals_and_says_so(world, session):
    """P11 and P1: tracking paused -> stage, role and seller order only; the panel says so, and
    nothing is counted about the person."""
    w = world
    suzuki = w.person("suzuki@acme.example", "Suzuki", "end_user")
    w.read(suzuki, w.items[7], 20 * 60)  # a colleague's reading would move item 8 up
    assert ids(w.suggest())[0] == w.items[7].public_id
    tracking.set_paused(w.kato, True)
    found = w.panel()
    assert found.mode == "paused"
    assert "Tracking is paused" in found.note
    assert w.items[7].public_id not in ids(found)
    assert all("colleague" not in r for s in found.items for r in s.reasons)
    assert not session.exec(select(SuggestionItem)).all()


def test_small_rooms_show_the_sellers_order_labelled(session, services):
    """P9: fewer than 5 eligible items -> the seller's order, labelled, no fake precision."""
    w = World(session, services, items=4)
    w.link("Pricing", roles="technical_evaluator")
    session.flush()
    assert w.suggest().mode == "personalized"  # 5 items
    tracking.record(session, invite=w.kato, event=tracking.Downloaded(item_id=pk(w.items[0])))
    found = w.suggest()
    assert found.mode == "seller_order"
    assert "only a few items" in found.note
    assert ids(found) == [i.public_id for i in w.items[1:4]]
    assert all(s.score == 0 for s in found.items)


def test_a_page_view_changes_the_next_suggestion_at_once(world):
    """P4: read from the rollups at request time: one beat later, the suggestion has moved."""
    w = world
    suzuki = w.person("suzuki@acme.example", "Suzuki", "end_user")
    before = ids(w.suggest())
    w.read(suzuki, w.items[6], 10 * 60)
    after = w.suggest()
    assert ids(after) != before and ids(after)[0] == w.items[6].public_id


# ---------------------------------------------------------------- measuring (P10)


def test_holdout_is_stable_per_viewer_and_near_the_configured_share():
    """P10: a stable, configurable share of viewers gets the seller's order."""
    people = [
        Invite(public_id=f"inv_{n:06d}", org_id=1, room_id=1, email="x@y.z") for n in range(2000)
    ]
    share = sum(suggestions.holdout(p, 10) for p in people) / len(people)
    assert 0.08 < share < 0.12
    assert [suggestions.holdout(p, 10) for p in people] == [
        suggestions.holdout(p, 10) for p in people
    ]
    assert not any(suggestions.holdout(p, 0) for p in people)


def test_holdout_viewers_get_the_sellers_order_and_lift_is_measured(world, session):
    """P10: impressions, opens and active time after a suggestion are recorded per group, and
    `lift` reports both groups with their counts."""
    w = world
    held = w.person("held@acme.example", "Held")
    found = suggestions.panel(session, room=w.room, invite=held, holdout_percent=100)
    assert found.holdout and found.mode == "seller_order"
    assert ids(found) == [i.public_id for i in w.items[:3]]
    shown = w.panel()
    session.flush()
    w.read(w.kato, next(i for i in w.items if i.public_id == shown.items[0].content_id), 90)
    result = suggestions.lift(session, org_id=w.room.org_id, room=w.room)
    assert (result.suggested.viewers, result.suggested.shown, result.suggested.opened) == (1, 3, 1)
    assert result.suggested.seconds == 90
    assert (result.holdout.viewers, result.holdout.shown, result.holdout.opened) == (1, 3, 0)
    assert result.suggested.open_rate == pytest.approx(1 / 3)
    assert result.open_rate_lift is None  # no holdout opens yet: no ratio is claimed
    viewer = session.exec(
        select(SuggestionViewer).where(SuggestionViewer.invite_id == held.id)
    ).one()
    assert viewer.holdout


def test_erasing_a_viewer_forgets_their_suggestion_state(world, session):
    """P11: a viewer's data can be erased."""
    w = world
    w.panel()
    suggestions.dismiss(session, room=w.room, invite=w.kato, item_id=w.items[0].public_id)
    session.flush()
    suggestions.erase_viewer(session, invite=w.kato)
    assert not session.exec(
        select(SuggestionItem).where(SuggestionItem.invite_id == w.kato.id)
    ).all()
    assert not session.exec(
        select(SuggestionViewer).where(SuggestionViewer.invite_id == w.kato.id)
    ).all()


# ---------------------------------------------------------------- next best actions (P12)


def test_next_best_actions_are_what_a_good_account_executive_would_do(session, services):
    """P12 and P7: the economic buyer has not opened pricing but colleagues have; a re-read
    points to what to send; new people this week; overdue buyer tasks. Ranked, at most 5,
    dismissable, and in the seller's language."""
    w = World(session, services, items=2)
    sec_section = content.add_section(session, room=w.room, title="Security")
    security = w.pdf("Security overview", section=sec_section)
    soc2 = w.link("SOC 2 report", section=sec_section)
    pricing = w.link("Pricing")
    boss = w.person("kimura@acme.example", "Kimura", "economic_buyer")
    suzuki = w.person("suzuki@acme.example", "Suzuki", "end_user")
    w.read(w.kato, security, 40, page=1, at=time.time() - 3 * 3600)
    w.read(w.kato, security, 40, page=1)  # a second visit: re-read
    for who in (w.kato, suzuki):
        tracking.record(session, invite=who, event=tracking.LinkClicked(item_id=pk(pricing)))
    for n in (1, 2):
        newcomer = w.person(f"new{n}@acme.example", f"New {n}")
        newcomer.source = "verified"
    milestone = Milestone(org_id=w.room.org_id, room_id=pk(w.room), title="Legal")
    session.add(milestone)
    session.flush()
    task = Task(
        org_id=w.room.org_id,
        room_id=pk(w.room),
        milestone_id=pk(milestone),
        title="Legal review",
        owner_invite_id=pk(boss),
        due_date=date.today() - timedelta(days=5),
    )
    session.add(task)
    session.flush()
    actions = suggestions.next_actions(session, room=w.room)
    assert [a.kind for a in actions] == ["pricing", "overdue_task", "reread", "new_people"]
    texts = [a.text for a in actions]
    assert texts[0] == "Economic buyer (Kimura) has not opened “Pricing” — 2 colleagues have."
    assert texts[1] == "Task “Legal review” is 5 days overdue (owner: Kimura): offer help."
    assert (
        texts[2]
        == "Technical evaluator (Kato) re-read Security overview page 1 (2 visits): send “SOC 2 report”."
    )
    assert texts[3] == "2 new people from acme.example joined this week: introduce yourself."
    assert actions[0].api() == {
        "kind": "pricing",
        "text": texts[0],
        "invite_id": boss.public_id,
        "content_id": pricing.public_id,
    }
    assert actions[1].api()["task_id"] == task.public_id
    assert actions[2].content_id == soc2.public_id
    with i18n.using("ja"):
        assert suggestions.next_actions(session, room=w.room)[0].text != texts[0]
    suggestions.dismiss_action(session, room=w.room, user=w.user, key=actions[0].key)
    session.flush()
    assert [a.kind for a in suggestions.next_actions(session, room=w.room)][0] == "overdue_task"
    with pytest.raises(NotFound):
        suggestions.dismiss_action(session, room=w.room, user=w.user, key="na_0000000000000000")


def test_never_more_than_five_actions(session, services):
    """P5: digests, not floods: at most 5 actions, the most important first."""
    w = World(session, services, items=1)
    milestone = Milestone(org_id=w.room.org_id, room_id=pk(w.room), title="Plan")
    session.add(milestone)
    session.flush()
    for n in range(8):
        session.add(
            Task(
                org_id=w.room.org_id,
                room_id=pk(w.room),
                milestone_id=pk(milestone),
                title=f"Task {n}",
                owner_invite_id=pk(w.kato),
                due_date=date.today() - timedelta(days=n + 1),
            )
        )
    session.flush()
    actions = suggestions.next_actions(session, room=w.room)
    assert len(actions) == 5
    assert actions[0].text.startswith("Task “Task 7” is 8 days overdue")


def test_lift_says_plainly_when_the_numbers_are_too_small():
    """P9/P10: no fake precision. Small groups: "too few"; enough people but a difference chance
    could give: "no clear difference"; only then a percentage."""
    arm = suggestions.Arm
    empty = suggestions.Lift(arm("suggested"), arm("holdout"))
    assert not empty.enough and "nothing to measure" in empty.note
    small = suggestions.Lift(arm("suggested", 40, 120, 60, 600), arm("holdout", 3, 9, 1, 10))
    assert not small.enough and not small.clear
    assert small.note.startswith("Too few to tell yet: 40 people saw suggestions and 3 are")
    close = suggestions.Lift(arm("suggested", 90, 300, 60, 900), arm("holdout", 10, 30, 5, 100))
    assert close.enough and not close.clear and close.note.startswith("No clear difference")
    assert close.open_rate_lift == pytest.approx(0.2 / (5 / 30) - 1)
    assert close.time_lift == pytest.approx(10 / 10 - 1)
    clear = suggestions.Lift(arm("suggested", 90, 300, 150, 900), arm("holdout", 12, 60, 12, 60))
    assert clear.clear and clear.note == (
        "Suggested items were opened 150% more often than the holdout's."
    )
    assert clear.api()["suggested"]["open_rate"] == 0.5


def test_the_room_pages_own_reads_give_the_same_suggestions(world, session):
    """The buyer room page passes its item listing and people in instead of the panel reading
    them again: same items, order, scores and reasons (own reading, colleagues, pins)."""
    w = world
    suzuki = w.person("suzuki@acme.example", "Suzuki", "economic_buyer")
    w.person("gone@acme.example", "Gone")
    w.read(suzuki, w.items[4], 300)
    w.read(w.kato, w.items[1], 120)
    w.read(w.kato, w.items[0], 60)
    suggestions.pin(
        session, room=w.room, user=w.user, item_id=w.items[6].public_id, target="champion"
    )
    session.flush()
    listing = content.room_content(session, room=w.room, invite=w.kato)
    people = invites.list_invites(session, room=w.room)
    people[-1].revoked_at = utcnow()
    read = w.suggest()
    passed = w.suggest(listing=listing, people=people)
    assert read.mode == passed.mode == "personalized"

    def shape(found):
        return [(s.content_id, round(s.score, 6), s.reasons) for s in found.items + found.rest]

    assert shape(passed) == shape(read)
    assert any("Suzuki" in r for s in read.items for r in s.reasons)


def test_a_deferred_recording_writes_nothing_until_it_is_run(world, session):
    """The room page (a GET, read in a read transaction) hands the impression write to a short
    transaction of its own after the request: nothing is written before that runs."""
    w = world
    later = []
    found = suggestions.panel(
        session, room=w.room, invite=w.kato, holdout_percent=0, defer=later.append
    )
    assert len(found.items) == 3 and len(later) == 1
    assert not session.exec(select(SuggestionItem)).all()
    assert not session.exec(select(SuggestionViewer)).all()
    later[0](session)
    rows = session.exec(select(SuggestionItem)).all()
    assert sorted(r.impressions for r in rows) == [1, 1, 1]
    viewer = session.exec(select(SuggestionViewer)).one()
    assert viewer.last_set == ",".join(ids(found))
