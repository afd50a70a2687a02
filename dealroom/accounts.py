"""Organisations, seller users, teammate invitations and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, col, select

from . import i18n, validate
from .db import pk, utcnow
from .errors import Conflict, InvalidInput, NotFound, PermissionDenied
from .i18n import _
from .ids import new_id
from .security import hash_password, needs_rehash, random_token, sha256_hex, verify_password

ROLES = ("admin", "manager", "rep")
LOCALES = i18n.LOCALES


class Org(SQLModel, table=True):
    __tablename__ = "org"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("org"), unique=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("usr"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    email: str = Field(unique=True, max_length=254)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(default="", max_length=255)
    role: str = Field(default="rep", max_length=20)
    locale: str = Field(default="en", max_length=10)
    timezone: str = Field(default="UTC", max_length=64)
    # Bumped to log a user out everywhere (password change, removal): sessions carry the epoch.
    session_epoch: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    disabled_at: datetime | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.email

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_manager(self) -> bool:
        return self.role in ("admin", "manager")


class TeamInvite(SQLModel, table=True):
    __tablename__ = "team_invite"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("tinv"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    email: str = Field(max_length=254)
    role: str = Field(default="rep", max_length=20)
    invited_by_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=lambda: new_id("tok"), unique=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    name: str = Field(default="", max_length=200)
    # Only a hash is kept: a database leak must not hand out working tokens.
    token_hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


TOKEN_PREFIX = "drt_"  # noqa: S105 - a public prefix, not a secret


def _email_taken(session: Session, email: str) -> bool:
    return session.exec(select(User.id).where(User.email == email)).first() is not None


def signup(session: Session, *, org_name: str, name: str, email: str, password: str) -> User:
    """A new organisation and its first admin."""
    values = validate.gather(
        {
            "org_name": lambda: validate.text(org_name, "org_name", label=_("Company name")),
            "name": lambda: validate.text(name, "name", label=_("Your name")),
            "email": lambda: validate.email(email),
            "password": lambda: validate.password(password),
        }
    )
    org_name, name, email, password = (
        str(values[k]) for k in ("org_name", "name", "email", "password")
    )
    if _email_taken(session, email):
        raise Conflict(_("An account with this email already exists. Log in instead."))
    org = Org(name=org_name)
    session.add(org)
    session.flush()
    user = User(
        org_id=pk(org), email=email, name=name, password_hash=hash_password(password), role="admin"
    )
    session.add(user)
    session.flush()
    return user


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    org_name: str,
    role: str = "admin",
    name: str = "",
) -> User:
    """CLI path: joins the organisation of that name, creating it when missing."""
    email = validate.email(email)
    password = validate.password(password)
    role = validate.choice(role, "role", label=_("Role"), options=ROLES)
    org_name = validate.text(org_name, "org", label=_("Organisation"))
    if _email_taken(session, email):
        raise Conflict(_("A user with email %(email)s already exists.", email=email))
    org = session.exec(select(Org).where(Org.name == org_name).order_by(col(Org.id))).first()
    if org is None:
        org = Org(name=org_name)
        session.add(org)
        session.flush()
    user = User(
        org_id=pk(org), email=email, name=name, password_hash=hash_password(password), role=role
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    email = str(email or "").strip().lower()
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None or user.disabled_at is not None:
        verify_password(None, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def get_user(session: Session, user_id: int) -> User | None:
    user = session.get(User, user_id)
    return user if user is not None and user.disabled_at is None else None


def get_org(session: Session, org_id: int) -> Org:
    org = session.get(Org, org_id)
    if org is None:
        raise NotFound(_("Organisation not found."))
    return org


def team(session: Session, *, org_id: int) -> list[User]:
    return list(
        session.exec(
            select(User).where(User.org_id == org_id).order_by(col(User.created_at), col(User.id))
        )
    )


def pending_team_invites(session: Session, *, org_id: int) -> list[TeamInvite]:
    query = select(TeamInvite).where(
        TeamInvite.org_id == org_id,
        col(TeamInvite.accepted_at).is_(None),
        col(TeamInvite.revoked_at).is_(None),
    )
    return list(session.exec(query.order_by(col(TeamInvite.created_at))))


def invite_teammate(session: Session, *, admin: User, email: str, role: str) -> TeamInvite:
    if not admin.is_admin:
        raise PermissionDenied(_("Only admins can invite teammates."))
    email = validate.email(email)
    role = validate.choice(role, "role", label=_("Role"), options=ROLES, default="rep")
    if _email_taken(session, email):
        raise Conflict(_("This person already has a Dealroom account."))
    invite = TeamInvite(org_id=admin.org_id, email=email, role=role, invited_by_id=pk(admin))
    session.add(invite)
    session.flush()
    return invite


def get_team_invite(session: Session, public_id: str) -> TeamInvite:
    invite = session.exec(select(TeamInvite).where(TeamInvite.public_id == public_id)).first()
    if invite is None or invite.revoked_at is not None:
        raise NotFound(_("This invitation does not exist or was withdrawn."))
    if invite.accepted_at is not None:
        raise Conflict(_("This invitation was already used. Log in instead."))
    return invite


def accept_team_invite(session: Session, *, invite: TeamInvite, name: str, password: str) -> User:
    name = validate.text(name, "name", label=_("Your name"))
    password = validate.password(password)
    if _email_taken(session, invite.email):
        raise Conflict(_("This person already has a Dealroom account."))
    user = User(
        org_id=invite.org_id,
        email=invite.email,
        name=name,
        password_hash=hash_password(password),
        role=invite.role,
    )
    session.add(user)
    invite.accepted_at = utcnow()
    session.flush()
    return user


def change_role(session: Session, *, admin: User, user_public_id: str, role: str) -> User:
    if not admin.is_admin:
        raise PermissionDenied(_("Only admins can change roles."))
    role = validate.choice(role, "role", label=_("Role"), options=ROLES)
    user = session.exec(
        select(User).where(User.public_id == user_public_id, User.org_id == admin.org_id)
    ).first()
    if user is None:
        raise NotFound(_("No such teammate."))
    if user.role == "admin" and role != "admin":
        admins = session.exec(
            select(func.count())
            .select_from(User)
            .where(User.org_id == admin.org_id, User.role == "admin")
        ).one()
        if admins <= 1:
            raise InvalidInput(fields={"role": _("The organisation needs at least one admin.")})
    user.role = role
    return user


def update_preferences(session: Session, *, user: User, locale: str, timezone: str) -> User:
    values = validate.gather(
        {
            "locale": lambda: validate.choice(
                locale, "locale", label=_("Language"), options=LOCALES
            ),
            "timezone": lambda: _timezone(timezone),
        }
    )
    user.locale, user.timezone = str(values["locale"]), str(values["timezone"])
    return user


def _timezone(value: object) -> str:
    zone = i18n.timezone_name(str(value or "").strip())
    if zone is None:
        raise InvalidInput(fields={"timezone": _("Choose a time zone from the list.")})
    return zone


def create_api_token(session: Session, *, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Returns the stored token and the plaintext, which is shown once and never again."""
    plaintext = TOKEN_PREFIX + random_token(32)
    token = ApiToken(
        org_id=user.org_id,
        user_id=pk(user),
        name=validate.text(name, "name", label=_("Name"), required=False),
        token_hash=sha256_hex(plaintext),
    )
    session.add(token)
    session.flush()
    return token, plaintext


def user_for_api_token(session: Session, plaintext: str) -> User | None:
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 200:
        return None
    token = session.exec(
        select(ApiToken).where(ApiToken.token_hash == sha256_hex(plaintext))
    ).first()
    if token is None or token.revoked_at is not None:
        return None
    user = get_user(session, token.user_id)
    if user is None or user.org_id != token.org_id:
        return None
    now = utcnow()
    # Avoid a write on every API call: a minute of precision is enough to show "last used".
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
    return user


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email.strip().lower())).first()


def list_api_tokens(session: Session, *, user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id, col(ApiToken.revoked_at).is_(None))
    return list(
        session.exec(query.order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc()))
    )


def revoke_api_token(session: Session, *, user: User, token_id: str) -> ApiToken:
    token = session.exec(
        select(ApiToken).where(ApiToken.public_id == token_id, ApiToken.user_id == user.id)
    ).first()
    if token is None:
        raise NotFound(_("No such token."))
    token.revoked_at = token.revoked_at or utcnow()
    return token
