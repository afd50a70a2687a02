"""Room chat: who sees what, mentions, notifications, grouped mails, paging and flood limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from dealroom import chat, invites
from dealroom.chat import ChatNotice, Member, Message, MessageMention
from dealroom.db import utcnow
from dealroom.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RateLimited
from dealroom.notify import OutboxMail
from tests import factories


@pytest.fixture
def owner(session):
    user = factories.seller(session, org="Northwind", email="aiko@northwind.example")
    user.name = "Aiko Mori"
    return user


@pytest.fixture
def colleague(session, owner):
    user = factories.seller(session, org="Northwind", role="rep", email="ken@northwind.example")
    user.name = "Ken Tanaka"
    return user


@pytest.fixture
def room(session, owner):
    return factories.room(session, owner)


@pytest.fixture
def buyer(session, services, room, owner):
    return factories.invite(
        session, services, room, owner, email="kato@acme.example", name="Yuki Kato"
    )


def post(session, room, author, body="Hello", **kw):
    return chat.post_message(session, room=room, author=author, body=body, **kw)


def bodies(page):
    return [entry.message.body for entry in page.entries]


def notices(session):
    rows = session.exec(select(ChatNotice).order_by(ChatNotice.id)).all()
    return [(n.recipient_email, n.reason) for n in rows]


def mails(session, to=None):
    query = select(OutboxMail).where(OutboxMail.kind == "chat_digest")
    if to:
        query = query.where(OutboxMail.to_addr == to)
    return list(session.exec(query.order_by(OutboxMail.id)))


# ---------------------------------------------------------------- writing and visibility


def test_sellers_and_buyers_share_one_conversation(session, room, owner, buyer):
    post(session, room, owner, "Welcome to the room")
    post(session, room, buyer, "Thanks, one question about **pricing**")

    page = chat.list_messages(session, room=room, seller=False)

    assert bodies(page) == ["Welcome to the room", "Thanks, one question about **pricing**"]
    first, second = page.entries
    assert (first.side, first.author_name, first.team) == ("seller", "Aiko Mori", "Northwind")
    assert (second.side, second.author_name, second.team) == ("buyer", "Yuki Kato", "Acme Corp")
    assert "<strong>pricing</strong>" in str(second.html)
    assert page.earlier is None


def test_internal_notes_are_for_sellers_only(session, room, owner, buyer):
    post(session, room, owner, "Public")
    note = post(session, room, owner, "Internal: discount up to 15%", internal=True)

    assert bodies(chat.list_messages(session, room=room, seller=True)) == [
        "Public",
        "Internal: discount up to 15%",
    ]
    assert bodies(chat.list_messages(session, room=room, seller=False)) == ["Public"]
    with pytest.raises(NotFound):
        chat.get_message(session, room=room, message_id=note.public_id, seller=False)
    assert chat.get_entry(session, room=room, message_id=note.public_id, seller=False) is None
    assert chat.count_messages(session, room=room, seller=False) == 1
    assert chat.count_messages(session, room=room, seller=True) == 2


def test_internal_notes_do_not_leak_through_history_cursors(session, room, owner, buyer):
    first = post(session, room, owner, "First")
    note = post(session, room, owner, "Secret note", internal=True)
    post(session, room, owner, "Second")

    after = chat.messages_after(session, room=room, seller=False, after=first.public_id)
    assert [e.message.body for e in after] == ["Second"]
    # A buyer naming an internal note as a cursor learns nothing from it.
    assert chat.messages_after(session, room=room, seller=False, after=note.public_id) == []
    with pytest.raises(NotFound):
        chat.list_messages(session, room=room, seller=False, before=note.public_id)


def test_buyers_cannot_write_internal_notes(session, room, buyer):
    with pytest.raises(PermissionDenied):
        post(session, room, buyer, "psst", internal=True)
    assert session.exec(select(Message)).all() == []


def test_a_revoked_buyer_cannot_write(session, room, owner, buyer):
    invites.revoke_invite(session, room=room, seller=owner, invite=buyer)
    with pytest.raises(PermissionDenied):
        post(session, room, buyer)


def test_a_buyer_of_another_room_cannot_write_here(session, services, room, owner):
    other_room = factories.room(session, owner, name="Other deal")
    stranger = factories.invite(session, services, other_room, owner, email="x@acme.example")
    with pytest.raises(PermissionDenied):
        post(session, room, stranger)


def test_a_seller_of_another_organisation_cannot_write_here(session, room):
    rival = factories.seller(session, org="Contoso")
    with pytest.raises(NotFound):
        post(session, room, rival)


def test_an_archived_room_is_read_only(session, room, owner):
    room.archived_at = utcnow()
    with pytest.raises(Conflict):
        post(session, room, owner)


@pytest.mark.parametrize("body", ["", "   \n\t ", "x" * (chat.MAX_BODY + 1), "nul\x00byte"])
def test_empty_too_long_or_unstorable_messages_are_refused(session, room, owner, body):
    with pytest.raises(InvalidInput) as refused:
        post(session, room, owner, body)
    assert set(refused.value.fields) == {"body"}


def test_a_message_of_exactly_the_maximum_length_is_kept(session, room, owner):
    message = post(session, room, owner, "y" * chat.MAX_BODY)
    assert len(message.body) == chat.MAX_BODY


def test_markdown_is_sanitized(session, room, owner):
    post(session, room, owner, "<script>alert(1)</script> [x](javascript:alert(1)) **ok**")
    [entry] = chat.list_messages(session, room=room, seller=True).entries
    html = str(entry.html)
    assert "<script" not in html and 'href="javascript' not in html
    assert "<strong>ok</strong>" in html


# ---------------------------------------------------------------- flood limit


def test_an_author_may_send_20_messages_a_minute_per_room(session, services, room, owner, buyer):
    for n in range(chat.RATE_LIMIT):
        post(session, room, buyer, f"message {n}")

    with pytest.raises(RateLimited) as limited:
        post(session, room, buyer, "one too many")
    assert 0 < limited.value.retry_after <= 60
    assert "too quickly" in limited.value.message
    # Other people, and the same person elsewhere, are not slowed down.
    post(session, room, owner, "the seller still can")
    other_room = factories.room(session, owner, name="Other deal")
    post(session, other_room, owner, "and elsewhere too")


# ---------------------------------------------------------------- paging


def test_history_pages_back_by_message(session, room, owner, buyer):
    for n in range(12):
        post(session, room, owner if n % 2 else buyer, f"m{n}")

    latest = chat.list_messages(session, room=room, seller=True, limit=5)
    assert bodies(latest) == ["m7", "m8", "m9", "m10", "m11"]
    middle = chat.list_messages(session, room=room, seller=True, before=latest.earlier, limit=5)
    assert bodies(middle) == ["m2", "m3", "m4", "m5", "m6"]
    oldest = chat.list_messages(session, room=room, seller=True, before=middle.earlier, limit=5)
    assert bodies(oldest) == ["m0", "m1"]
    assert oldest.earlier is None


def test_paging_skips_internal_notes_for_buyers(session, room, owner):
    for n in range(6):
        post(session, room, owner, f"m{n}", internal=n % 2 == 1)

    buyer_page = chat.list_messages(session, room=room, seller=False, limit=2)
    assert bodies(buyer_page) == ["m2", "m4"]
    rest = chat.list_messages(session, room=room, seller=False, before=buyer_page.earlier, limit=2)
    assert bodies(rest) == ["m0"]


def test_paging_is_stable_when_messages_share_a_timestamp(session, room, owner):
    stamp = utcnow()
    for n in range(4):
        post(session, room, owner, f"m{n}").created_at = stamp
    session.flush()

    first = chat.list_messages(session, room=room, seller=True, limit=2)
    second = chat.list_messages(session, room=room, seller=True, before=first.earlier, limit=2)
    assert bodies(first) + bodies(second) == ["m2", "m3", "m0", "m1"]


def test_paging_from_an_unknown_message_is_not_found(session, room, owner):
    for bad in ("msg_doesnotexist", "room_x", "nonsense"):
        with pytest.raises(NotFound):
            chat.list_messages(session, room=room, seller=True, before=bad)


def test_a_message_of_another_room_is_not_found_here(session, room, owner):
    other = post(session, factories.room(session, owner, name="Other deal"), owner)
    with pytest.raises(NotFound):
        chat.get_message(session, room=room, message_id=other.public_id, seller=True)


# ---------------------------------------------------------------- mentions


def member(kind, n, name, email):
    return Member(kind, n, f"x_{n}", name, email)


PEOPLE = [
    member("seller", 1, "Aiko Mori", "aiko@northwind.example"),
    member("seller", 2, "Ken Tanaka", "ken@northwind.example"),
    member("seller", 3, "Ken Sato", "sato@northwind.example"),
    member("buyer", 4, "Yuki Kato", "kato@acme.example"),
    member("buyer", 5, "mei@acme.example", "mei@acme.example"),  # invited without a name
    member("buyer", 6, "Mika Ito", "ito@acme.example"),
    member("seller", 7, "Mika Abe", "abe@northwind.example"),
]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("aiko@northwind.example", 1),  # the email address
        ("kentanaka", 2),  # the full name, spaces removed ...
        ("ken.tanaka", 2),  # ... or replaced by a dot, underscore or dash
        ("ken_sato", 3),
        ("yuki-kato", 4),
        ("kato", 4),  # the email's local part
        ("aiko", 1),  # the first name, when only one person has it
        ("mei", 5),
        ("ken", 2),  # an email's local part is a stronger handle than a first name
        ("mika", None),  # two Mikas: nobody, rather than the wrong one
        ("nobody", None),
    ],
)
def test_mentions_resolve_against_room_members(token, expected):
    found = chat.resolve_mentions([token], PEOPLE)
    assert [m.id for m in found] == ([expected] if expected else [])


def test_members_are_the_organisations_sellers_and_the_rooms_active_buyers(
    session, services, room, owner, colleague, buyer
):
    revoked = factories.invite(session, services, room, owner, email="gone@acme.example")
    invites.revoke_invite(session, room=room, seller=owner, invite=revoked)
    disabled = factories.seller(session, org="Northwind", email="left@northwind.example")
    disabled.disabled_at = utcnow()
    factories.seller(session, org="Contoso", email="rival@contoso.example")
    session.flush()

    emails = sorted(m.email for m in chat.members(session, room=room))

    assert emails == ["aiko@northwind.example", "kato@acme.example", "ken@northwind.example"]


def test_mentions_are_stored(session, room, owner, colleague, buyer):
    message = post(session, room, owner, "@kentanaka and @kato@acme.example, see `@nobody`")

    rows = session.exec(select(MessageMention).where(MessageMention.message_id == message.id))
    assert {(r.user_id, r.invite_id) for r in rows} == {(colleague.id, None), (None, buyer.id)}
    [entry] = chat.list_messages(session, room=room, seller=True).entries
    assert sorted(entry.mentions) == sorted([colleague.public_id, buyer.public_id])


# ---------------------------------------------------------------- who is told


def test_a_buyer_message_notifies_the_room_owner(session, room, owner, colleague, buyer):
    post(session, room, buyer, "A question for you")
    assert notices(session) == [("aiko@northwind.example", "buyer_message")]


def test_a_buyer_mention_notifies_the_seller_named(session, room, owner, colleague, buyer):
    post(session, room, buyer, "@ken.tanaka can you help?")
    assert sorted(notices(session)) == [
        ("aiko@northwind.example", "buyer_message"),
        ("ken@northwind.example", "mention"),
    ]


def test_a_seller_mention_notifies_the_buyer(session, room, owner, buyer):
    post(session, room, owner, "@kato here is the proposal")
    assert notices(session) == [("kato@acme.example", "mention")]


def test_a_plain_seller_message_notifies_nobody(session, room, owner, buyer):
    post(session, room, owner, "Just an update")
    assert notices(session) == []


def test_nobody_is_told_about_their_own_message(session, room, owner, buyer):
    post(session, room, owner, "note to @aiko.mori")
    post(session, room, buyer, "@kato (that is me)")
    assert notices(session) == [("aiko@northwind.example", "buyer_message")]


def test_internal_notes_never_reach_buyers(session, room, owner, colleague, buyer):
    message = post(session, room, owner, "@kato is hesitant, @kentanaka please call", internal=True)

    assert notices(session) == [("ken@northwind.example", "mention")]
    rows = session.exec(select(MessageMention).where(MessageMention.message_id == message.id))
    assert [(r.user_id, r.invite_id) for r in rows] == [(colleague.id, None)]


# ---------------------------------------------------------------- grouped mails


def digest(db, services, now):
    return chat.send_digests(db, renderer=services.mail, links=services.links, now=now)


def test_notices_become_one_grouped_mail(db, session, services, room, owner, buyer):
    post(session, room, buyer, "First question")
    post(session, room, buyer, "Second question")
    session.flush()

    assert digest(db, services, utcnow()) == 1

    [mail] = mails(session, "aiko@northwind.example")
    assert "First question" in mail.text_body and "Second question" in mail.text_body
    assert f"http://testserver/rooms/{room.public_id}" in mail.text_body
    assert "2" in mail.subject and room.name in mail.subject
    assert chat.pending_notices(session, email="aiko@northwind.example") == []


def test_at_most_one_mail_per_person_per_window(db, session, services, room, owner, buyer):
    start = utcnow()
    post(session, room, buyer, "First")
    session.flush()
    assert digest(db, services, start) == 1

    post(session, room, buyer, "Second")
    post(session, room, buyer, "Third")
    session.flush()
    assert digest(db, services, start + timedelta(minutes=1)) == 0
    assert digest(db, services, start + chat.DIGEST_WINDOW - timedelta(seconds=1)) == 0
    assert len(mails(session, "aiko@northwind.example")) == 1

    assert digest(db, services, start + chat.DIGEST_WINDOW) == 1
    first, second = mails(session, "aiko@northwind.example")
    assert "Second" in second.text_body and "Third" in second.text_body
    assert "First" not in second.text_body


def test_a_second_process_cannot_send_in_the_same_window(db, session, services, room, owner, buyer):
    post(session, room, buyer, "Hello")
    session.flush()
    now = utcnow()
    # Two schedulers ticking at once: the digest row's conditional UPDATE lets one through.
    assert digest(db, services, now) + digest(db, services, now) == 1
    assert len(mails(session, "aiko@northwind.example")) == 1


def test_a_buyer_mail_links_to_the_room_never_to_a_personal_link(
    db, session, services, room, owner, buyer
):
    post(session, room, owner, "@kato please review the proposal")
    session.flush()

    digest(db, services, utcnow())

    [mail] = mails(session, "kato@acme.example")
    assert f"http://testserver/r/{room.public_id}" in mail.text_body
    assert "/i/" not in mail.text_body and "/i/" not in mail.html_body
    assert "please review the proposal" in mail.text_body


def test_mails_group_rooms_and_messages_per_person(db, session, services, owner, buyer, room):
    other = factories.room(session, owner, name="Second deal")
    buyer_there = factories.invite(session, services, other, owner, email="kato@acme.example")
    post(session, room, owner, "@kato in the first room")
    post(session, other, owner, "@kato in the second room")
    session.flush()
    assert buyer_there.id != buyer.id

    assert digest(db, services, utcnow()) == 1

    [mail] = mails(session, "kato@acme.example")
    assert "in the first room" in mail.text_body and "in the second room" in mail.text_body
    assert f"/r/{room.public_id}" in mail.text_body and f"/r/{other.public_id}" in mail.text_body


def test_a_revoked_buyer_gets_no_mail(db, session, services, room, owner, buyer):
    post(session, room, owner, "@kato see the new terms")
    invites.revoke_invite(session, room=room, seller=owner, invite=buyer)
    session.flush()

    assert digest(db, services, utcnow()) == 0
    assert mails(session) == []
    assert chat.pending_notices(session, email="kato@acme.example") == []


def test_sellers_mails_include_internal_notes_that_mention_them(
    db, session, services, room, owner, colleague, buyer
):
    post(session, room, owner, "@ken.tanaka they are price-sensitive", internal=True)
    session.flush()

    digest(db, services, utcnow())

    [mail] = mails(session, "ken@northwind.example")
    assert "price-sensitive" in mail.text_body and "Internal note" in mail.text_body
    assert mails(session, "kato@acme.example") == []


def test_digest_mail_escapes_html(db, session, services, room, owner, buyer):
    post(session, room, buyer, "<img src=x onerror=alert(1)> hi")
    session.flush()

    digest(db, services, utcnow())

    [mail] = mails(session)
    assert "<img" not in mail.html_body and "&lt;img" in mail.html_body


def test_current_readers_follows_revocation_logout_and_archiving(
    session, services, room, owner, colleague, buyer
):
    other_org = factories.seller(session, org="Contoso")
    gone = factories.invite(session, services, room, owner, email="gone@acme.example")
    invites.revoke_invite(session, room=room, seller=owner, invite=gone)
    sellers = {owner.id: 0, colleague.id: 0, other_org.id: 0}

    allowed = chat.current_readers(session, room=room, sellers=sellers, invites={buyer.id, gone.id})
    assert allowed == ({owner.id, colleague.id}, {buyer.id})

    colleague.session_epoch += 1  # "log out everywhere"
    room.archived_at = utcnow()
    session.flush()
    assert chat.current_readers(session, room=room, sellers=sellers, invites={buyer.id}) == (
        {owner.id},
        set(),
    )


def test_the_scheduler_sends_chat_digests(db, session, services, room, owner, buyer):
    from dealroom.jobs import Jobs

    jobs = Jobs(db, None, mail=services.mail, links=services.links)
    assert "chat-digests" in jobs.specs
    assert "chat-digests" not in Jobs(db, None).specs
    post(session, room, buyer, "Ping")
    session.flush()

    jobs.chat_digests()

    assert len(mails(session, "aiko@northwind.example")) == 1


# ---------------------------------------------------------------- mentions as shown


def test_mentions_of_members_are_highlighted_for_every_reader(session, room, owner, buyer):
    post(session, room, owner, "@kato, @Aiko here. Ask @nobody, not `@kato`.")

    [entry] = chat.list_messages(session, room=room, seller=False).entries

    assert entry.handles == {"kato": buyer.public_id, "aiko": owner.public_id}
    html = str(entry.html)
    assert '<span class="mention">@kato</span>' in html
    assert '<span class="mention">@Aiko</span>' in html
    assert "@nobody" in html and "<code>@kato</code>" in html
    assert "mention--me" not in html


def test_the_reader_sees_their_own_mentions_apart(session, room, owner, colleague, buyer):
    post(session, room, buyer, "@aiko and @ken.tanaka, please check")
    [entry] = chat.list_messages(session, room=room, seller=True).entries

    for_aiko = str(entry.html_for(owner.public_id))
    for_ken = str(entry.html_for(colleague.public_id))
    for_buyer = str(entry.html_for(buyer.public_id))

    assert '<span class="mention mention--me">@aiko</span>' in for_aiko
    assert '<span class="mention">@ken.tanaka</span>' in for_aiko
    assert '<span class="mention mention--me">@ken.tanaka</span>' in for_ken
    assert "mention--me" not in for_buyer and for_buyer.count('class="mention"') == 2


def test_an_ambiguous_or_unknown_name_is_not_highlighted(session, services, room, owner, buyer):
    factories.invite(session, services, room, owner, email="ysato@acme.example", name="Yuki Sato")
    session.flush()
    post(session, room, owner, "@yuki or @yukio, and @kato")

    [entry] = chat.list_messages(session, room=room, seller=True).entries

    assert entry.handles == {"kato": buyer.public_id}
    assert str(entry.html).count('class="mention"') == 1


def test_a_buyer_named_in_an_internal_note_is_not_highlighted(session, room, owner, buyer):
    post(session, room, owner, "@kato wants a discount; @aiko decides", internal=True)

    [entry] = chat.list_messages(session, room=room, seller=True).entries

    # As for notifications: an internal note mentions sellers only.
    assert entry.handles == {"aiko": owner.public_id}
    assert "@kato wants" in str(entry.html)
