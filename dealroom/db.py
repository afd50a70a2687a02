"""Engine and transactions.

Domain functions take `*, session` and never commit: whoever opens the session (a request, a job
run, a CLI command) owns the transaction, so two domain calls commit together or not at all.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, SQLModel, select

T = TypeVar("T", bound=SQLModel)

MODEL_MODULES = (
    "dealroom.accounts",
    "dealroom.rooms",
    "dealroom.invites",
    "dealroom.content",
    "dealroom.notify",
    "dealroom.ratelimit",
    "dealroom.audit",
    "dealroom.notes",
    "dealroom.tasks",
    "dealroom.chat",
    "dealroom.roomtemplates",
    "dealroom.tracking",
    "dealroom.scores",
    "dealroom.exports",
    "dealroom.suggestions",
    "dealroom.notifications",
    "dealroom.lease",
    "dealroom.since",
    "dealroom.champion",
)


def load_models() -> type[SQLModel]:
    """Import every module that declares tables, so `SQLModel.metadata` is complete."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return SQLModel


def get_by_public_id(
    session: Session, model: type[T], public_id: str, *, prefix: str, missing: str, **scope: object
) -> T:
    """The `model` row with this public id whose columns match `scope` (its room, organisation
    or template), else NotFound(missing). An id with the wrong prefix gets the same answer
    without a query, so ids of another kind, or of another tenant, are indistinguishable."""
    from .errors import NotFound
    from .ids import has_prefix

    if not has_prefix(public_id, prefix):
        raise NotFound(missing)
    query = select(model).where(getattr(model, "public_id") == public_id)  # noqa: B009 - any model
    for column, value in scope.items():
        query = query.where(getattr(model, column) == value)
    row = session.exec(query).first()
    if row is None:
        raise NotFound(missing)
    return row


def utcnow() -> datetime:
    """Aware UTC; SQLModel stores it as UTC on every backend and returns it aware."""
    return datetime.now(UTC)


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def pk(row: _Row) -> int:
    """The primary key of a row that is in the database.

    Table ids are typed `int | None` because they are None until the INSERT; every row that was
    loaded, or added and flushed, has one. Raising here names the bug (a missing flush) instead of
    letting a NULL foreign key fail later.
    """
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: add and flush it first")
    return row.id


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (needed for
        # SAVEPOINT and for BEGIN IMMEDIATE below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that reads and then writes can fail at once with SQLITE_BUSY when
        # another connection committed in between; writers take the lock up front instead.
        if conn.get_execution_options().get("dealroom_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs
        )
        _sqlite_pragmas(engine)
        return engine
    if "poolclass" not in kwargs:
        kwargs.update(pool_size=10, max_overflow=20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """Hands out sessions bound either to an engine (the app) or to one connection (tests, whose
    outer transaction is rolled back after each test; the app's commits become savepoints)."""

    def __init__(self, bind: Engine | Connection) -> None:
        self.bind = bind
        self.engine = bind if isinstance(bind, Engine) else bind.engine
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        options: dict[str, Any] = {"expire_on_commit": False}
        if isinstance(bind, Connection):
            options["join_transaction_mode"] = "create_savepoint"
        self._factory = sessionmaker(bind=bind, class_=Session, **options)

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url))

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """One transaction: committed when the block ends normally, rolled back on any error."""
        session = self._factory()
        try:
            if write and isinstance(self.bind, Engine):
                session.connection(execution_options={"dealroom_write": True})
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        if isinstance(self.bind, Engine):
            self.engine.dispose()
