"""The SQL stores: SQLite or PostgreSQL behind the store protocols of ``vodstack.ports``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from vodstack.clock import Clock, utc_now
from vodstack.db.accounts import SqlAccountStore
from vodstack.db.captions import SqlCaptionStore
from vodstack.db.direct_uploads import SqlDirectUploadStore
from vodstack.db.jobs import SqlJobStore
from vodstack.db.ratelimits import SqlRateLimitStore
from vodstack.db.uploads import SqlUploadStore
from vodstack.db.videos import SqlVideoStore
from vodstack.db.webhooks import SqlWebhookStore
from vodstack.db.workers import SqlWorkerRoster
from vodstack.ports import Stores


def sql_stores(engine: AsyncEngine, lease_seconds: float, clock: Clock = utc_now) -> Stores:
    return Stores(
        jobs=SqlJobStore(engine, lease_seconds, clock),
        uploads=SqlUploadStore(engine),
        videos=SqlVideoStore(engine),
        accounts=SqlAccountStore(engine),
        webhooks=SqlWebhookStore(engine),
        direct_uploads=SqlDirectUploadStore(engine),
        captions=SqlCaptionStore(engine),
        rate_limits=SqlRateLimitStore(engine),
        workers=SqlWorkerRoster(engine, clock),
    )
