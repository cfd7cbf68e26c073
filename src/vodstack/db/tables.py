"""Every table, in one place. The migrations in ``migrations/versions`` build exactly this
schema (a test compares them on every backend)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(32)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) too."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    # The key's public half, so a request finds its row without trying every hash.
    Column("id", String(16), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("secret_hash", String(255), nullable=False),  # argon2id of the secret half
    Column("created_at", UTCDateTime, nullable=False),
    Column("name", String(64), nullable=False),
    Column("scopes", JSON, nullable=False),  # a sorted list of scope names
    Column("expires_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),  # to the minute: not written on every request
    Column("revoked_at", UTCDateTime),
    Index(None, "user_id"),
)

videos = Table(
    "videos",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, ForeignKey("users.id", ondelete="SET NULL")),
    Column("visibility", String(16), nullable=False, default="public"),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(127)),
    Column("size", BigInteger, nullable=False),
    Column("source_key", String(512), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("duration", Float),
    Column("renditions", JSON),
    Column("warnings", JSON),  # a list of sentences; NULL (rows from before it) means none
    Column("poster_time", Float),  # the owner's choice of poster frame, in seconds
    Column("cover_time", Float),  # the frame the worker chose as the poster
    Column("receipt", JSON),  # each rung's measured quality (domain.quality); NULL: none
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "status", "created_at"),
    Index(None, "owner_id", "created_at"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("id", ID, primary_key=True),
    Column("video_id", ID, ForeignKey("videos.id", ondelete="SET NULL")),
    Column("owner_id", ID, ForeignKey("users.id", ondelete="SET NULL")),
    Column("storage_upload_id", String(1024), nullable=False),
    Column("storage_key", String(512), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("part_size", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index(None, "status", "created_at"),
    Index(None, "video_id"),
)

direct_uploads = Table(
    "direct_uploads",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("owner_name", String(64), nullable=False),
    Column("title", String(200)),
    Column("description", Text, nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("max_size", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("upload_id", ID, ForeignKey("uploads.id", ondelete="SET NULL"), unique=True),
    Column("video_id", ID, ForeignKey("videos.id", ondelete="SET NULL")),
    Column("used_at", UTCDateTime),
)

upload_parts = Table(
    "upload_parts",
    metadata,
    Column("upload_id", ID, ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True),
    Column("part_number", Integer, primary_key=True),
    Column("etag", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("video_id", ID, ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
    # "" for a video's own job; a part's key (``c3t1``, ``audio``) once the job is split.
    Column("part", String(16), nullable=False, default="", server_default=""),
    Column("parent_id", ID, ForeignKey("jobs.id", ondelete="CASCADE")),
    # Claims take the lowest rank first: a video's own job and its first chunks rank 0.
    Column("rank", Integer, nullable=False, default=0, server_default="0"),
    Column("plan", JSON),  # a split job's VideoPlan
    Column("outputs", JSON),  # a part's PartOutput, once (or, for the audio, as) published
    Column("status", String(16), nullable=False),
    Column("epoch", Integer, nullable=False, default=0),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("progress", Float, nullable=False, default=0.0),
    Column("available_at", UTCDateTime, nullable=False),
    Column("encoder", String(64)),
    Column("published_epoch", Integer),
    # The W3C traceparent of the request that queued the job, for the worker's job span.
    Column("trace_context", String(128)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("video_id", "part"),
    Index(None, "status", "rank", "available_at"),
    Index(None, "status", "lease_expires_at"),
    Index(None, "parent_id"),
)

job_events = Table(
    "job_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", ID, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    Column("video_id", ID, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("worker", String(128)),
    Column("reason", Text),
    Column("detail", JSON),
    Index(None, "video_id", "id"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("events", JSON, nullable=False),  # a list of event types
    Column("secret", String(128), nullable=False),
    # A rotated-out secret keeps signing until old_secret_until, beside the new one.
    Column("old_secret", String(128)),
    Column("old_secret_until", UTCDateTime),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "owner_id"),
)

# The outbox: one row per event and endpoint, written in the transaction of the change.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(40), primary_key=True),  # the webhook-id, the same on every try
    Column(
        "endpoint_id",
        ID,
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_type", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "status", "next_at"),
    Index(None, "endpoint_id", "created_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        String(40),
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("excerpt", Text, nullable=False, default=""),
    Index(None, "delivery_id", "id"),
)

captions = Table(
    "captions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("video_id", ID, ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
    Column("language", String(35), nullable=False),  # a BCP 47 tag
    Column("name", String(64), nullable=False),
    Column("origin", String(16), nullable=False),  # "source" or "upload"
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "video_id", "created_at"),
)

# Requests counted per limit, caller (a user id or a client address) and whole minute since
# the epoch: the rate limits of every API process on the database.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("caller", String(64), primary_key=True),
    Column("minute", BigInteger, primary_key=True),
    Column("requests", Integer, nullable=False),
    Index(None, "minute"),  # old minutes are deleted by minute
)

# The workers alive and their job slots: a worker renews its row at each heartbeat, and a
# video is cut into parts for the slots counted here.
workers = Table(
    "workers",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("slots", Integer, nullable=False),
    Column("alive_until", UTCDateTime, nullable=False),
    Index(None, "alive_until"),  # run-out rows are deleted by it
)
