"""``vodstack serve --processes N``: N HTTP processes on one port, each building its app here
from the environment the parent left (uvicorn starts them with ``spawn``, so nothing else
crosses over). What must happen once happens in the parent first: the schema is migrated,
the signing key and the first admin exist, so that no two processes race to make them and
every process signs and checks tokens with the same key."""

from __future__ import annotations

import json
import os

from starlette.types import ASGIApp

from vodstack.api import Role, create_app, served_app
from vodstack.logs import configure_logging
from vodstack.settings import Settings
from vodstack.tracing import configure_tracing

SPEC_VARIABLE = "VODSTACK_SERVE_SPEC"  # the role and job slots, as JSON


def serve_spec(role: Role, workers: int) -> str:
    return json.dumps({"role": role, "workers": workers})


def app_from_environment() -> ASGIApp:
    """One HTTP process's app (uvicorn's factory)."""
    spec = json.loads(os.environ[SPEC_VARIABLE])
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    role = spec["role"]
    configure_tracing(settings.otel_endpoint, "vodstack" if role == "all" else f"vodstack-{role}")
    return served_app(create_app(settings, role, workers=int(spec["workers"])), settings, role)


async def prepare(settings: Settings) -> None:
    """What every process needs done once, before any starts."""
    from vodstack.runtime import open_backends
    from vodstack.services.accounts import AccountService
    from vodstack.settings import ensure_signing_key

    ensure_signing_key(settings)
    async with open_backends(settings) as backends:  # migrates the schema
        if backends.embedded:
            await AccountService(backends.stores.accounts).ensure_first_admin(settings.data_dir)
