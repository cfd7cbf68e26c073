"""``vodstack storage``: object storage checked against the database, straight on the
backends the settings name (no server needed)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape

from vodstack import errors
from vodstack.cli import _settings, app, console

storage_app = typer.Typer(no_args_is_help=True, help="Object storage: what no video owns.")
app.add_typer(storage_app, name="storage")


@storage_app.command("check")
def check(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="remove the orphans and queue damaged videos to be encoded again; remove "
            "settled webhook deliveries past their retention",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """List objects that no video, upload or caption owns, and files that ready videos
    need and storage lacks. Exits 1 when it finds either, 0 when storage is clean, 2 when
    it cannot check."""
    settings = _settings()
    try:
        report = asyncio.run(_check(settings, repair))
    except errors.VodstackError as exc:
        console.print(f"[red]cannot check storage: {escape(exc.message)}[/]", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(report))
    else:
        _print(report)
    if not report["clean"]:
        raise typer.Exit(1)


async def _check(settings: Any, repair: bool) -> dict[str, Any]:
    from vodstack.runtime import open_backends
    from vodstack.services.storage_audit import StorageAudit
    from vodstack.services.webhooks import prune_deliveries

    async with open_backends(settings) as backends:
        audit = StorageAudit(
            backends.storage,
            backends.stores,
            backends.signal,
            grace=timedelta(seconds=settings.storage_check_grace_seconds),
        )
        report = await audit.run(repair)
        result = report.to_json()
        if repair:
            retention = timedelta(days=settings.webhook_delivery_retention_days)
            result["webhook_deliveries_removed"] = await prune_deliveries(
                backends.stores.webhooks, retention
            )
        result["lines"] = [o.describe() for o in report.orphans] + [
            line for d in report.damaged for line in d.describe()
        ]
        return result


def _print(report: dict[str, Any]) -> None:
    for line in report["lines"]:
        print(line)
    for orphan in report["orphans"]:
        if report["repaired"]:
            print(f"removed {orphan['removed']} of {orphan['prefix']}")
    for damaged in report["damaged"]:
        if damaged["requeued_jobs"]:
            print(
                f"video {damaged['video_id']} is queued to be encoded again "
                f"({damaged['requeued_jobs']} job{'s' if damaged['requeued_jobs'] > 1 else ''})"
            )
        elif damaged["not_requeued_because"]:
            print(f"video {damaged['video_id']} was not queued: {damaged['not_requeued_because']}")
    if "webhook_deliveries_removed" in report:
        print(f"removed {report['webhook_deliveries_removed']} old webhook deliveries")
    orphans, damaged = len(report["orphans"]), len(report["damaged"])
    summary = (
        f"checked {report['objects_checked']} objects and "
        f"{report['ready_videos_checked']} ready videos: "
    )
    if report["clean"]:
        print(summary + "storage is clean")
    else:
        print(
            summary + f"{orphans} orphan{'s' if orphans != 1 else ''}, "
            f"{damaged} damaged video{'s' if damaged != 1 else ''}"
        )
