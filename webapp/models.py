"""Database models. Every row is keyed by a UUID string so phones can make rows offline.

Households and people carry their village and town ids (copied from their group)
so that the scope helper can filter any query with one indexed comparison.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .audit_lock import attach as attach_audit_lock
from .extensions import db


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


UUID = sa.String(36)

AREA_KINDS = ("county", "town", "village", "committee", "group")
ROLES = ("admin", "supervisor", "desk", "worker")
SEXES = ("F", "M")
STATUSES = ("resident", "away", "moved_out", "deceased")


class Area(db.Model):
    """(County →) town → village (or residents' committee) → group. A county is optional:
    towns without a parent stand alone, as they did before counties were added."""

    __tablename__ = "area"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(100))
    parent_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("area.id"), index=True)

    parent: Mapped[Area | None] = relationship(remote_side="Area.id", back_populates="children")
    children: Mapped[list[Area]] = relationship(back_populates="parent", order_by="Area.code")

    @property
    def is_village(self) -> bool:
        return self.kind in ("village", "committee")


user_area = sa.Table(
    "user_area",
    db.metadata,
    sa.Column("user_id", UUID, sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("area_id", UUID, sa.ForeignKey("area.id", ondelete="CASCADE"), primary_key=True),
)


class User(UserMixin, db.Model):
    __tablename__ = "user"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    role: Mapped[str] = mapped_column(sa.String(16))
    email: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")  # notice lists by e-mail, where configured
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    areas: Mapped[list[Area]] = relationship(secondary=user_area, order_by="Area.code")

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active


class Device(db.Model):
    """One per login on a phone. Only the token's hash is stored; revoking is immediate."""

    __tablename__ = "device"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class Household(db.Model):
    __tablename__ = "household"
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_id)
    group_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"), index=True)
    village_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"), index=True)
    town_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(32), default="")
    address: Mapped[str] = mapped_column(sa.String(200))
    head_id: Mapped[str | None] = mapped_column(
        UUID, sa.ForeignKey("person.id", use_alter=True, name="fk_household_head")
    )
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    group: Mapped[Area] = relationship(foreign_keys=[group_id])
    village: Mapped[Area] = relationship(foreign_keys=[village_id])
    head: Mapped[Person | None] = relationship(foreign_keys=[head_id], post_update=True)
    members: Mapped[list[Person]] = relationship(
        back_populates="household", foreign_keys="Person.household_id", order_by="Person.birth_date"
    )


class Person(db.Model):
    __tablename__ = "person"
    __table_args__ = (
        # An ID number is unique within a town; NULLs (unknown numbers) may repeat.
        sa.UniqueConstraint("town_id", "id_number", name="uq_person_town_id_number"),
    )
    id: Mapped[str] = mapped_column(UUID, primary_key=True, default=new_id)
    household_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("household.id"), index=True)
    group_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"), index=True)
    village_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"), index=True)
    town_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("area.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    name_pinyin: Mapped[str] = mapped_column(sa.String(200), default="", index=True)
    name_initials: Mapped[str] = mapped_column(sa.String(50), default="", index=True)
    sex: Mapped[str] = mapped_column(sa.String(1))
    birth_date: Mapped[date]
    id_number: Mapped[str | None] = mapped_column(sa.String(18))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    relation: Mapped[str] = mapped_column(sa.String(20), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="resident")
    away_place: Mapped[str] = mapped_column(sa.String(200), default="")
    away_contact: Mapped[str] = mapped_column(sa.String(50), default="")
    enrolled: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    household: Mapped[Household] = relationship(back_populates="members", foreign_keys=[household_id])
    group: Mapped[Area] = relationship(foreign_keys=[group_id])
    village: Mapped[Area] = relationship(foreign_keys=[village_id])

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


class AuditEntry(db.Model):
    """Append-only: the app writes audit entries and never changes or deletes them."""

    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("user.id"))
    device_id: Mapped[str | None] = mapped_column(UUID, sa.ForeignKey("device.id"))
    action: Mapped[str] = mapped_column(sa.String(32))
    entity: Mapped[str] = mapped_column(sa.String(32))
    entity_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)


attach_audit_lock(AuditEntry.__table__)  # UPDATE/DELETE refused by the database (webapp/audit_lock.py)


class LoginFailure(db.Model):
    """Failed logins, kept in the database so rate limiting holds across app servers."""

    __tablename__ = "login_failure"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), index=True)
    remote_addr: Mapped[str] = mapped_column(sa.String(64), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# -- sync: what the merge engine (sync/) stores; see webapp/sync_store.py ---------------------

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class SyncCounter(db.Model):
    """One row. Every merge unit updates it first, so units are serialised and change
    sequence numbers are handed out in commit order (no gaps a pulling device could skip)."""

    __tablename__ = "sync_counter"
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class SyncRecord(db.Model):
    """Every record exactly as received, once, with the answer it got."""

    __tablename__ = "sync_record"
    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    record: Mapped[object] = mapped_column(sa.JSON)
    device_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    errors: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    version: Mapped[int | None]


class SyncEntity(db.Model):
    """Merged state of one entity: field values, the stamp that set each, version, last change seq."""

    __tablename__ = "sync_entity"
    entity: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    entity_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    fields: Mapped[dict] = mapped_column(sa.JSON)
    stamps: Mapped[dict] = mapped_column(sa.JSON)
    version: Mapped[int]
    seq: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    village_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)


class SyncConflict(db.Model):
    """Accepted edits of one field of one entity from one base version (a conflict when
    two devices disagree). ``base_version`` -1 stands for none."""

    __tablename__ = "sync_conflict"
    __table_args__ = (sa.UniqueConstraint("entity", "entity_id", "field", "base_version", name="uq_sync_conflict"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(32))
    entity_id: Mapped[str] = mapped_column(sa.String(64))
    field: Mapped[str] = mapped_column(sa.String(64))
    base_version: Mapped[int]
    competitors: Mapped[dict] = mapped_column(sa.JSON)
    is_conflict: Mapped[bool] = mapped_column(default=False, index=True)
    village_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(UUID)
    resolution: Mapped[dict | None] = mapped_column(sa.JSON)


class SyncEvent(db.Model):
    """An appended fact (visit, sign-in, delivery, absence); ``counted`` False for a later duplicate."""

    __tablename__ = "sync_event"
    __table_args__ = (sa.Index("ix_sync_event_key", "type", "unique_key"),)
    record_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    entity_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    data: Mapped[dict] = mapped_column(sa.JSON)
    stamp: Mapped[str] = mapped_column(sa.String(200))
    device_id: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[str] = mapped_column(sa.String(64))
    unique_key: Mapped[str | None] = mapped_column(sa.String(300))
    counted: Mapped[bool]
    seq: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    village_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)


class ImportDraft(db.Model):
    """An uploaded register file between its preview and the admin's confirmation.

    The rows are kept here, not in the browser, so what is imported is exactly what was
    previewed; the database (not a local file) holds them so any app server can answer the
    confirmation. Drafts expire and are deleted when imported or cancelled."""

    __tablename__ = "import_draft"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    rows: Mapped[list] = mapped_column(sa.JSON)
    ignored_columns: Mapped[list] = mapped_column(sa.JSON, default=list)
    skip: Mapped[list] = mapped_column(sa.JSON, default=list)
    first_errors: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    errors: Mapped[dict] = mapped_column(sa.JSON, default=dict)
