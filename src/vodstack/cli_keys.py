"""``vodstack keys``, through the HTTP API with the configured key, and ``vodstack users
list``, straight on the database (an operator's tool, as ``users create`` is)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vodstack.cli import JsonOption, ServerOption, _call, _settings, app, console, users_app

keys_app = typer.Typer(no_args_is_help=True, help="The API keys of the configured key's user.")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="what the key is for")],
    scopes: Annotated[
        list[str] | None,
        typer.Option("--scope", help="read, upload, manage or admin; repeat for more"),
    ] = None,
    expires_in: Annotated[
        int | None, typer.Option("--expires-in", help="seconds until it expires", min=1)
    ] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it, shown only this once.

    Without --scope it holds all of its user's rights."""
    body: dict[str, Any] = {"name": name, "scopes": scopes or None, "expires_in": expires_in}
    created = _call(server, "POST", "/v1/keys", body)
    if as_json:
        print(json.dumps(created))
        return
    console.print(
        f"created key {escape(created['name'])} ({created['id']}): {', '.join(created['scopes'])}",
        highlight=False,
    )
    console.print("the key, shown only this once:", highlight=False)
    print(created["key"])


@keys_app.command("list")
def keys_list(server: ServerOption = None, as_json: JsonOption = False) -> None:
    """The keys that are not revoked; never their secrets."""
    listing = _call(server, "GET", "/v1/keys")
    if as_json:
        print(json.dumps(listing))
        return
    table = Table("id", "name", "scopes", "created", "last used", "expires")
    for key in listing["keys"]:
        table.add_row(
            key["id"],
            escape(key["name"]),
            " ".join(key["scopes"]),
            key["created_at"],
            key["last_used_at"] or "never",
            key["expires_at"] or "never",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, server: ServerOption = None) -> None:
    """Revoke a key: every server refuses it within a second."""

    _call(server, "DELETE", f"/v1/keys/{quote(key_id, safe='')}")
    console.print(f"revoked key {escape(key_id)}", highlight=False)


@users_app.command("list")
def users_list(as_json: JsonOption = False) -> None:
    """Every user, by name."""
    from vodstack.db.accounts import SqlAccountStore
    from vodstack.db.migrate import open_database
    from vodstack.domain.accounts import System
    from vodstack.services.accounts import AccountService

    async def run() -> list[dict[str, Any]]:
        async with open_database(_settings()) as engine:
            accounts = AccountService(SqlAccountStore(engine))
            found = await accounts.users(System("vodstack users list"))
            return [{"id": u.id, "name": u.name, "admin": u.is_admin} for u in found]

    users = asyncio.run(run())
    if as_json:
        print(json.dumps({"users": users}))
        return
    table = Table("id", "name", "admin")
    for user in users:
        table.add_row(user["id"], escape(user["name"]), "yes" if user["admin"] else "")
    Console().print(table)
