"""``vodstack webhooks``: a user's webhooks through the HTTP API."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vodstack.cli import JsonOption, ServerOption, _call, app

webhooks_app = typer.Typer(no_args_is_help=True, help="Webhooks: your videos' events, signed.")
app.add_typer(webhooks_app, name="webhooks")


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
    _call(server, "DELETE", f"/v1/webhooks/{quote(webhook_id, safe='')}")


@webhooks_app.command("deliveries")
def deliveries(webhook_id: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """A webhook's deliveries, newest first, with each attempt's answer."""
    listing = _call(server, "GET", f"/v1/webhooks/{quote(webhook_id, safe='')}/deliveries")
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
