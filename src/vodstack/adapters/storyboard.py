"""Making a storyboard from an encoded rendition: one contained ffmpeg packs its keyframes
into sheets (see ``domain.pictures``), then PyAV reads the sheets back to score each tile
for the cover. Sheets are our own small JPEGs, so decoding them in the worker is safe."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import av

from vodstack import errors
from vodstack.adapters.sandbox import Confinement
from vodstack.domain.pictures import (
    STORYBOARD,
    TIMES_NAME,
    VTT_NAME,
    StoryboardPlan,
    Tile,
    keyframe_times,
    luma_entropy,
    picked_times,
    place_tiles,
    render_vtt,
    storyboard_command,
)

log = logging.getLogger(__name__)

Run = Callable[[list[str], float, Confinement], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Storyboard:
    tiles: tuple[Tile, ...]  # their sheets relative to ``folder``
    sheets: tuple[str, ...]  # file names in ``folder``


async def make_storyboard(
    ffmpeg: str, run: Run, playlist: Path, folder: Path, plan: StoryboardPlan, budget: Confinement
) -> Storyboard | None:
    """The tiles of ``plan`` from the rendition ``playlist``, their sheets in ``folder``.
    None (and ``folder`` removed) when they could not be made: a video without a
    storyboard still plays, so that is no reason to fail its encode."""
    if not plan.times:  # a chunk shorter than the interval between tiles may hold none
        return Storyboard((), ())
    await asyncio.to_thread(_fresh_folder, folder)
    try:
        await run(storyboard_command(ffmpeg, playlist, folder, plan), plan.end - plan.start, budget)
        return await asyncio.to_thread(_read_storyboard, folder, plan)
    except (
        errors.TranscodeFailed,
        errors.InvalidMedia,
        OSError,
        ValueError,
        av.FFmpegError,
    ) as exc:
        log.warning("no storyboard: %s", getattr(exc, "message", exc))
        await asyncio.to_thread(shutil.rmtree, folder, True)
        return None


def _fresh_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _read_storyboard(folder: Path, plan: StoryboardPlan) -> Storyboard:
    """The tiles ffmpeg made, scored; the list of keyframe times is removed, not published."""
    times_file = folder / TIMES_NAME
    times = picked_times(keyframe_times(times_file.read_text()), plan)
    times_file.unlink()
    tiles = place_tiles(times, plan.tile_size, plan.grid)
    sheets = tuple(sorted({t.sheet for t in tiles}))
    written = tuple(sorted(p.name for p in folder.iterdir()))
    if not tiles or written != sheets:
        raise ValueError(f"{len(tiles)} tiles, but ffmpeg wrote {len(written)} sheets")
    return Storyboard(tuple(_scored(folder, tiles)), sheets)


def _scored(folder: Path, tiles: list[Tile]) -> list[Tile]:
    """Each tile with the entropy of its luma, read from its sheet."""
    scored = []
    for sheet in sorted({t.sheet for t in tiles}):
        with av.open(str(folder / sheet)) as container:
            frame = next(container.decode(video=0))
        plane = frame.planes[0]
        data = bytes(plane)
        for tile in (t for t in tiles if t.sheet == sheet):
            offset = tile.y * plane.line_size + tile.x
            score = luma_entropy(data, tile.w, tile.h, plane.line_size, offset)
            scored.append(replace(tile, score=round(score, 4)))
    return sorted(scored, key=lambda t: t.time)


def write_vtt(out_dir: Path, storyboard: Storyboard, plan: StoryboardPlan) -> list[Path]:
    """A whole video's VTT beside its sheets; every storyboard file, relative to ``out_dir``."""
    (out_dir / STORYBOARD / VTT_NAME).write_text(
        render_vtt(storyboard.tiles, plan.interval, plan.duration)
    )
    return [Path(STORYBOARD, name) for name in (*storyboard.sheets, VTT_NAME)]
