"""``vodstack demo``: the embedded stack in one process, a real sample uploaded through the
HTTP API, its transcoding followed, and its page and playlist URLs printed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from vodstack.api import create_app, served_app
from vodstack.client import VodstackClient
from vodstack.domain.playlist import parse_media_playlist
from vodstack.settings import Settings

SAMPLE_NAME = "big_buck_bunny.mp4"
SAMPLE_CREDIT = "Big Buck Bunny, (c) 2008 Blender Foundation, www.bigbuckbunny.org, CC BY 3.0"
DEMO_TITLE = "Big Buck Bunny (vodstack demo)"


def default_sample() -> Path:
    """Where ``make demo`` puts the sample clip, fetched from a package registry."""
    return Path(sys.prefix) / "share" / "vodstack" / SAMPLE_NAME


async def run_demo(
    settings: Settings, host: str, port: int, sample: Path, check: bool, console: Console
) -> int:
    app = served_app(create_app(settings, "all", workers=1), settings, "all")
    server = uvicorn.Server(
        # Logging is set up already; uvicorn's loggers follow its level. The app writes
        # the access log itself (api.middleware.AccessLog).
        uvicorn.Config(app, host=host, port=port, log_config=None, log_level=None, access_log=False)
    )
    serving = asyncio.create_task(server.serve(), name="http server")
    while not server.started:
        if serving.done():
            console.print(f"[red]the server could not start on {host}:{port}[/]")
            return 1
        await asyncio.sleep(0.05)
    try:
        async with VodstackClient(settings.public_url, settings.client_api_key()) as client:
            video_id = await _sample_video(client, sample, console)
            video = await _follow(client, video_id)
            if video["status"] != "ready":
                console.print(f"[red]the sample failed:[/] {video['error']}")
                return 1
            master_url = (await client.call("GET", f"/v1/videos/{video_id}/playback"))["master_url"]
            console.print(
                f"page:            {settings.public_url}/videos/{video_id}", soft_wrap=True
            )
            console.print(f"master playlist: {master_url}")
            key = settings.client_api_key()
            if key:
                # The fragment never reaches a server; the page keeps the key in the browser.
                console.print(f"sign in:         {settings.public_url}/#key={key}")
            console.print(f"[dim]{SAMPLE_CREDIT}[/]")
            if check:
                return await _check_served(client, master_url, console)
        console.print("serving; press Ctrl-C to stop")
        await serving
        return 0
    finally:
        server.should_exit = True
        await asyncio.gather(serving, return_exceptions=True)


async def _sample_video(client: VodstackClient, sample: Path, console: Console) -> str:
    """The sample from an earlier run, if it is there and did not fail; else a new upload."""
    listing = await client.call("GET", "/v1/videos?limit=1000")
    for video in listing["videos"]:
        if video["title"] == DEMO_TITLE and video["status"] not in ("failed", "uploading"):
            console.print(f"using the sample uploaded earlier: {video['id']}")
            return str(video["id"])
    result = await client.upload(sample, title=DEMO_TITLE)
    console.print(
        f"uploaded {sample.name} ({result.size} bytes) as video {result.video_id}", soft_wrap=True
    )
    return result.video_id


async def _follow(client: VodstackClient, video_id: str) -> dict[str, Any]:
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%")
    ) as bar:
        task = bar.add_task("queued", total=1.0)
        while True:
            video = await client.video(video_id)
            bar.update(task, description=video["status"], completed=video["progress"])
            if video["status"] in ("ready", "failed"):
                return video
            await asyncio.sleep(0.5)


async def _check_served(client: VodstackClient, master_url: str, console: Console) -> int:
    """The master playlist, and the init and first segment of every rung, are served."""
    master = await client.fetch(master_url)
    base = master_url.rsplit("/", 1)[0]
    variants = [line for line in master.decode().splitlines() if line and not line.startswith("#")]
    for variant in variants:
        playlist_url = f"{base}/{variant}"
        playlist = parse_media_playlist((await client.fetch(playlist_url)).decode())
        folder = playlist_url.rsplit("/", 1)[0]
        for uri in (playlist.map_uri, playlist.segments[0].uri if playlist.segments else None):
            if uri is None or not await client.fetch(f"{folder}/{uri}"):
                console.print(f"[red]check failed:[/] {variant} has no playable first segment")
                return 1
    console.print(f"check passed: master playlist and the first segment of {len(variants)} rungs")
    return 0
