"""Audit log: who did what, when (invites, revocations, approvals, uploads, downloads, settings)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Field, Session, SQLModel, col, select

from .db import utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    actor: str = Field(max_length=300)  # "usr_…", "inv_…" or "system"
    action: str = Field(max_length=60)  # e.g. "invite.created"
    target: str = Field(default="", max_length=120)  # public id of the object acted on
    detail: str = Field(default="{}", max_length=4000)  # small JSON object
    created_at: datetime = Field(default_factory=utcnow, index=True)


def record(
    session: Session, *, org_id: int, actor: str, action: str, target: str = "", **detail: object
) -> None:
    session.add(
        AuditEvent(
            org_id=org_id,
            actor=actor,
            action=action,
            target=target,
            detail=json.dumps(detail, default=str),
        )
    )


def recent(session: Session, *, org_id: int, limit: int = 200) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.org_id == org_id)
    query = query.order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
    return list(session.exec(query.limit(limit)))
