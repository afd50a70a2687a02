"""Build test data through the domain functions (never raw rows), so tests exercise real rules."""

from __future__ import annotations

import itertools
from typing import Any

from sqlmodel import Session

from dealroom import accounts, invites, rooms
from dealroom.app import Services

PASSWORD = "correct-horse-battery"  # noqa: S105
_counter = itertools.count(1)


def seller(
    session: Session, *, org: str | None = None, role: str = "admin", email: str | None = None
) -> accounts.User:
    n = next(_counter)
    return accounts.create_user(
        session,
        email=email or f"seller{n}@northwind.example",
        password=PASSWORD,
        org_name=org or f"Org {n}",
        role=role,
        name=f"Seller {n}",
    )


def room(session: Session, user: accounts.User, **data: Any) -> rooms.Room:
    values = {
        "name": "Acme rollout",
        "buyer_company": "Acme Corp",
        "allowed_domains": "acme.example",
    }
    values.update(data)
    return rooms.create_room(session, user=user, data=values)


def invite(
    session: Session,
    services: Services,
    room_: rooms.Room,
    user: accounts.User,
    email: str = "kato@acme.example",
    **kw: Any,
) -> invites.Invite:
    return invites.create_invite(
        session,
        room=room_,
        seller=user,
        email=email,
        links=services.links,
        renderer=services.mail,
        **kw,
    )
