"""Typed models of the registry (SQLAlchemy 2.0 style). Geometry is EPSG:4326 throughout.

Every project-related table carries ``district_code`` so the registry can later be distributed
by district (Citus) without reshaping the data.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (ARRAY, BigInteger, Boolean, CheckConstraint, Date, DateTime, Float,
                        ForeignKey, Identity, Index, Integer, MetaData, Numeric, SmallInteger, String,
                        Text, UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from registry.vocab import STAGES

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(14, 2)
Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class District(Base):
    __tablename__ = "districts"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(String(6))
    # The jurisdiction levels above (migration 0012): filled from the code (370403 → 3704, 37), or
    # for a zone from its parent district, unless given when the boundary is loaded.
    city_code: Mapped[str | None] = mapped_column(String(4), index=True)
    province_code: Mapped[str | None] = mapped_column(String(2), index=True)
    # The outline when one was loaded, else the union of the current towns.
    geom: Mapped[Any | None] = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True))
    geom_source: Mapped[str] = mapped_column(String(8), server_default="towns")
    area_km2: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())


class Town(Base):
    """One version of a town/sub-district boundary; the current one has ``valid_to`` NULL."""
    __tablename__ = "towns"
    __table_args__ = (
        UniqueConstraint("code", "version"),
        Index("uq_towns_current_code", "code", unique=True, postgresql_where=text("valid_to IS NULL")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    code: Mapped[str] = mapped_column(String(9))
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    valid_from: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    valid_to: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True), nullable=False)
    area_km2: Mapped[float] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(Text)


class TownPart(Base):
    """A piece (≤ 64 vertices) of a current town, kept by a trigger on towns; for fast matching."""
    __tablename__ = "town_parts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    town_id: Mapped[int] = mapped_column(ForeignKey("towns.id", ondelete="CASCADE"), index=True)
    district_code: Mapped[str] = mapped_column(String(6))
    code: Mapped[str] = mapped_column(String(9))
    geom: Mapped[Any] = mapped_column(Geometry("POLYGON", 4326, spatial_index=False), nullable=False)

    __table_args__ = (Index("ix_town_parts_geom", "geom", postgresql_using="gist"),)


class Domain(Base):
    __tablename__ = "domains"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label_zh: Mapped[str] = mapped_column(Text, unique=True)
    label_en: Mapped[str] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(Integer, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("domain_code", "label_zh"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_code: Mapped[str] = mapped_column(ForeignKey("domains.code"))
    label_zh: Mapped[str] = mapped_column(Text)


class FundingSource(Base):
    __tablename__ = "funding_sources"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label_zh: Mapped[str] = mapped_column(Text, unique=True)
    sort_order: Mapped[int] = mapped_column(Integer, server_default="0")


class ImportBatch(Base):
    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    filename: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    created_by: Mapped[str] = mapped_column(Text)
    imported: Mapped[int] = mapped_column(Integer, server_default="0")
    updated: Mapped[int] = mapped_column(Integer, server_default="0")
    rejected: Mapped[int] = mapped_column(Integer, server_default="0")
    report: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("stage IN (%s)" % ", ".join(f"'{s}'" for s in STAGES), name="stage"),
        CheckConstraint("total_investment >= 0", name="total_nonnegative"),
        CheckConstraint("equipment_investment IS NULL OR equipment_investment <= total_investment",
                        name="equipment_le_total"),
        CheckConstraint("completed_investment IS NULL OR completed_investment <= total_investment",
                        name="completed_le_total"),
        Index("ix_projects_district_stage", "district_code", "stage"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # district, domain and import batch: checked set-based by a statement trigger in the
    # database, not by a foreign key (migration 0011); ix_projects_district_stage serves district
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"))
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(Text)
    # no index of its own on domain or stage: a tenth or a sixth of the rows each, which the
    # planner reads by other means, and two fewer indexes for every insert (migration 0025)
    domain_code: Mapped[str] = mapped_column(ForeignKey("domains.code"))
    category: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(Text)
    credit_code: Mapped[str | None] = mapped_column(String(18))
    declared_town: Mapped[str | None] = mapped_column(Text)  # 所属镇街 as written in the source
    address: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", 4326, spatial_index=True), nullable=False)
    source_crs: Mapped[str] = mapped_column(String(10), server_default="WGS84")
    total_investment: Mapped[Decimal] = mapped_column(Money)
    equipment_investment: Mapped[Decimal | None] = mapped_column(Money)
    completed_investment: Mapped[Decimal | None] = mapped_column(Money)
    funding: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    stage: Mapped[str] = mapped_column(String(16))
    stage_before_suspension: Mapped[str | None] = mapped_column(String(16))
    planned_start: Mapped[dt.date | None] = mapped_column(Date)
    planned_end: Mapped[dt.date | None] = mapped_column(Date)
    actual_start: Mapped[dt.date | None] = mapped_column(Date)
    actual_end: Mapped[dt.date | None] = mapped_column(Date)
    lead_unit: Mapped[str | None] = mapped_column(Text)
    responsible_units: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    is_key: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    quantity: Mapped[Decimal | None] = mapped_column(Numeric(16, 3))
    unit: Mapped[str | None] = mapped_column(Text)
    remarks: Mapped[str | None] = mapped_column(Text)
    length_km: Mapped[float | None] = mapped_column(Float)  # geodesic, lines only
    area_km2: Mapped[float | None] = mapped_column(Float)  # geodesic, polygons only
    primary_town_code: Mapped[str | None] = mapped_column(String(9), index=True)
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)

    __mapper_args__ = {"version_id_col": version}


class ProjectTown(Base):
    """A project's share of one town: by count (points), geodesic length (lines) or area."""
    __tablename__ = "project_towns"
    __table_args__ = (
        CheckConstraint("share > 0 AND share <= 1.000001", name="share_range"),
        Index("ix_project_towns_town_code_project", "town_code", "project_id"),
    )
    # checked once per statement and deleted with its project by triggers, not a foreign key (0025)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    town_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6))
    town_id: Mapped[int] = mapped_column(ForeignKey("towns.id"))  # a statement trigger checks it (0011)
    share: Mapped[float] = mapped_column(Float)
    length_km: Mapped[float | None] = mapped_column(Float)
    area_km2: Mapped[float | None] = mapped_column(Float)


class AuditEntry(Base):
    """Who changed what, when, before → after. Written by services, never updated."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now(), index=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(Text)
    district_code: Mapped[str | None] = mapped_column(String(6))
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)
    details: Mapped[dict | None] = mapped_column(JSONB)

    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)


# --- Accounts (DESIGN §6). The web app reads these before it knows who is asking, so they carry
# grants, not row-level security: no DELETE on users (disable instead).

class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'bureau', 'town', 'planner', 'viewer')", name="role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    # argon2id; NULL = cannot sign in. The web role neither reads it (migration 0010) nor writes
    # it (0017, definer functions only): never loaded with the row; sign-in has the database
    # compare it (registry.passwords).
    password_hash: Mapped[str | None] = mapped_column(Text, deferred=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class UserTown(Base):
    """A town (9-digit code) whose projects a ``town`` user may see."""
    __tablename__ = "user_towns"
    __table_args__ = (CheckConstraint("town_code ~ '^[0-9]{9}$'", name="town_code_digits"),)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    town_code: Mapped[str] = mapped_column(String(9), primary_key=True)


class UserJurisdiction(Base):
    """A district, city or province a ``bureau``/``planner`` account is limited to, or a ``viewer``
    reads (migration 0012). A bureau or planner account without any keeps the whole registry."""
    __tablename__ = "user_jurisdictions"
    __table_args__ = (CheckConstraint(
        "(level = 'district' AND code ~ '^[0-9A-Za-z]{1,6}$') OR (level = 'city' AND code ~ '^[0-9]{4}$') "
        "OR (level = 'province' AND code ~ '^[0-9]{2}$')", name="level_code"),)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[str] = mapped_column(String(8), primary_key=True)
    code: Mapped[str] = mapped_column(String(6), primary_key=True)


class ApiToken(Base):
    """A bearer token: only the SHA-256 of the secret is stored; the secret is shown once."""
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class UserSession(Base):
    """A browser session: the cookie holds a random id, the row its SHA-256 and the session data."""
    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    ip: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)


class RefusalCount(Base):
    """Refused requests of one actor on one route with one status, per 10-minute window."""
    __tablename__ = "refusal_counts"
    actor: Mapped[str] = mapped_column(Text, primary_key=True)
    route: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(Timestamp, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    last_at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    last_path: Mapped[str | None] = mapped_column(Text)


class LoginAttempt(Base):
    """One password check, for the sign-in rate limits (per username, address, both)."""
    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_username_ip_at", "username", "ip", "at"),
                      Index("ix_login_attempts_ip_at", "ip", "at"), Index("ix_login_attempts_at", "at"))
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(Timestamp, server_default=func.now())
    username: Mapped[str] = mapped_column(Text)
    ip: Mapped[str] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean)
