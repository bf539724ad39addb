"""Login sessions kept on the server.

The signed cookie holds only a random token (and the CSRF token); the row keyed by the token's
hash says whose session it is and until when. So a session ends for good when its row goes:
at logout, when the user's password changes or the user is removed, when an admin ends it, and
when it expires. A copied cookie is worth nothing after any of these.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from hub.db import SessionFactory, utcnow
from hub.models import LoginSession, User

# Writing "last seen" on every page view would make each read a write; once a minute is enough.
TOUCH_EVERY = timedelta(seconds=60)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def end_user_sessions(s: Session, user_id: int) -> int:
    """Delete every session of a user inside the caller's transaction; returns how many."""
    result = s.exec(
        delete(LoginSession).where(col(LoginSession.user_id) == user_id)  # type: ignore[call-overload]
    )
    return int(result.rowcount or 0)


class SessionStore:
    def __init__(self, session: SessionFactory, hours: float) -> None:
        self.session = session
        self.lifetime = timedelta(hours=hours)

    def start(self, username: str, client: str, user_agent: str) -> str | None:
        """A new session for ``username``; returns the token for the cookie (None: no user)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.session() as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None or user.id is None:
                return None
            s.exec(delete(LoginSession).where(col(LoginSession.expires_at) <= now))  # type: ignore[call-overload]
            s.add(
                LoginSession(
                    token_hash=token_hash(token),
                    user_id=user.id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self.lifetime,
                    client=client[:64],
                    user_agent=user_agent[:200],
                )
            )
            s.commit()
        return token

    def lookup(self, token: str) -> tuple[int, User] | None:
        """The session's id and user, when the session exists and has not expired."""
        now = utcnow()
        digest = token_hash(token)
        with self.session() as s:
            found = s.exec(
                select(LoginSession, User)
                .join(User, col(User.id) == col(LoginSession.user_id))
                .where(LoginSession.token_hash == digest, col(LoginSession.expires_at) > now)
            ).first()
            if found is None:
                return None
            row, user = found
            if now - row.last_seen_at > TOUCH_EVERY:
                s.exec(
                    update(LoginSession)  # type: ignore[call-overload]
                    .where(col(LoginSession.id) == row.id)
                    .values(last_seen_at=now)
                )
                s.commit()
            assert row.id is not None
            return row.id, user

    def end(self, token: str) -> None:
        with self.session() as s:
            s.exec(delete(LoginSession).where(col(LoginSession.token_hash) == token_hash(token)))  # type: ignore[call-overload]
            s.commit()

    def end_id(self, session_id: int) -> bool:
        with self.session() as s:
            result = s.exec(delete(LoginSession).where(col(LoginSession.id) == session_id))  # type: ignore[call-overload]
            s.commit()
            return bool(result.rowcount)

    def end_user(self, username: str) -> int | None:
        """End all of a user's sessions; returns how many, or None when there is no such user."""
        with self.session() as s:
            user = s.exec(select(User).where(User.username == username)).first()
            if user is None or user.id is None:
                return None
            ended = end_user_sessions(s, user.id)
            s.commit()
            return ended

    def active(self, limit: int = 500) -> list[dict[str, Any]]:
        """Open sessions, most recently seen first (never the token or its hash)."""
        with self.session() as s:
            rows = s.exec(
                select(LoginSession, User.username, User.role)
                .join(User, col(User.id) == col(LoginSession.user_id))
                .where(col(LoginSession.expires_at) > utcnow())
                .order_by(col(LoginSession.last_seen_at).desc())
                .limit(limit)
            ).all()
        return [session_dict(row, username, role) for row, username, role in rows]


def session_dict(row: LoginSession, username: str, role: str) -> dict[str, Any]:
    def iso(value: datetime) -> str:
        return value.isoformat()

    return {
        "id": row.id,
        "username": username,
        "role": role,
        "created_at": iso(row.created_at),
        "last_seen_at": iso(row.last_seen_at),
        "expires_at": iso(row.expires_at),
        "client": row.client,
        "user_agent": row.user_agent,
    }
