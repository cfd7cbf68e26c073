"""``vodstack webhooks``: a user's webhooks through the HTTP API."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vodstack.client import VodstackClient
from vodstack.settings import Settings

webhooks_app = typer.Typer(no_args_is_help=True, help="Webhooks: your videos' events, signed.")

ServerOption = Annotated[
    str | None, typer.Option("--server", help="API base URL (default: VODSTACK_PUBLIC_URL)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def _call(server: str | None, method: str, path: str, body: Any = None) -> Any:
    """One API call; an API error reaches ``cli.main``, which says it in one line."""
    settings = Settings()

    async def run() -> Any:
        async with VodstackClient(
            server or settings.public_url, settings.client_api_key()
        ) as client:
            return await client.call(method, path, body)

    return asyncio.run(run())


@webhooks_app.command("add")
def add(
    url: str,
    event: Annotated[
        list[str] | None, typer.Option("--event", help="an event to send (default: all)")
    ] = None,
    server: ServerOption = None,
) -> None:
    """Register URL; prints the webhook with its secret, which is shown this once."""
    created = _call(server, "POST", "/v1/webhooks", {"url": url, "events": event or None})
    print(json.dumps(created, indent=2))


@webhooks_app.command("list")
def list_webhooks(server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Your webhooks."""
    listing = _call(server, "GET", "/v1/webhooks")
    if as_json:
        print(json.dumps(listing))
        return
    table = Table("id", "url", "events", "enabled")
    for hook in listing["webhooks"]:
        shown = ", ".join(hook["events"])
        table.add_row(hook["id"], escape(hook["url"]), shown, "yes" if hook["enabled"] else "no")
    Console().print(table)


@webhooks_app.command("remove")
def remove(webhook_id: str, server: ServerOption = None) -> None:
    """Remove a webhook and its deliveries."""
    _call(server, "DELETE", f"/v1/webhooks/{webhook_id}")


@webhooks_app.command("deliveries")
def deliveries(webhook_id: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """A webhook's deliveries, newest first, with each attempt's answer."""
    listing = _call(server, "GET", f"/v1/webhooks/{webhook_id}/deliveries")
    if as_json:
        print(json.dumps(listing))
        return
    table = Table("id", "event", "status", "attempts", "last answer")
    for delivery in listing["deliveries"]:
        attempts = delivery["attempts"]
        last = attempts[-1] if attempts else None
        answer = "" if last is None else str(last["status_code"] or last["error"])
        table.add_row(
            delivery["id"], delivery["event_type"], delivery["status"], str(len(attempts)), answer
        )
    Console().print(table)
