"""``vodstack captions``: a video's text tracks, through the HTTP API with the configured
key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vodstack.cli import JsonOption, ServerOption, _call, app, console
from vodstack.client import Form
from vodstack.domain.captions import MAX_CAPTION_BYTES

captions_app = typer.Typer(no_args_is_help=True, help="A video's captions and subtitles.")
app.add_typer(captions_app, name="captions")


def _path(video_id: str) -> str:
    return f"/v1/videos/{quote(video_id, safe='')}/captions"


@captions_app.command("add")
def captions_add(
    video_id: str,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="an SRT or WebVTT file")
    ],
    language: Annotated[str, typer.Option("--language", help="a tag such as en or pt-BR")],
    name: Annotated[str, typer.Option("--name", help="what players list it as")],
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a caption to a video from an SRT or WebVTT file (at most 2 MiB)."""
    with file.open("rb") as handle:
        data = handle.read(MAX_CAPTION_BYTES + 1)  # more is refused, and said so, by the API
    kind = "text/vtt" if file.suffix.lower() == ".vtt" else "application/x-subrip"
    form = Form({"language": language, "name": name}, {"file": (file.name, data, kind)})
    added = _call(server, "POST", _path(video_id), form=form)
    if as_json:
        print(json.dumps(added))
        return
    console.print(
        f"added caption {escape(added['name'])} ({added['language']}): {added['id']}",
        highlight=False,
    )


@captions_app.command("list")
def captions_list(video_id: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """The video's captions: its source's subtitle tracks and those added."""
    listing = _call(server, "GET", _path(video_id))
    if as_json:
        print(json.dumps(listing))
        return
    table = Table("id", "language", "name", "origin")
    for caption in listing["captions"]:
        table.add_row(
            caption["id"], caption["language"], escape(caption["name"]), caption["origin"]
        )
    Console().print(table)


@captions_app.command("delete")
def captions_delete(video_id: str, caption_id: str, server: ServerOption = None) -> None:
    """Remove a caption: players stop listing it from their next playlist on."""
    _call(server, "DELETE", f"{_path(video_id)}/{quote(caption_id, safe='')}")
    console.print(f"deleted caption {escape(caption_id)}", highlight=False)
