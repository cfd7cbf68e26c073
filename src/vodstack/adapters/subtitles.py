"""A source's text subtitles, written out as WebVTT by one contained ffmpeg run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from vodstack import errors
from vodstack.adapters.sandbox import Confinement, run_confined
from vodstack.domain.captions import subtitle_command, subtitle_file

log = logging.getLogger(__name__)

# Subtitles are a few kilobytes a minute; reading them means demuxing the whole file once.
SUBTITLE_CPU_SECONDS = 120.0
SUBTITLE_TIMEOUT = 300.0
MAX_SUBTITLE_FILE = 64 * 2**20


async def extract_subtitles(
    ffmpeg: str, source: Path, tracks: Sequence[int], out_dir: Path, memory_bytes: int | None
) -> dict[int, Path]:
    """Each track's WebVTT file, by track. Raises TranscodeFailed when ffmpeg fails."""
    confinement = Confinement(
        memory_bytes=memory_bytes,
        cpu_seconds=SUBTITLE_CPU_SECONDS,
        file_bytes=MAX_SUBTITLE_FILE,
        isolate_network=True,
    )
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    command = subtitle_command(ffmpeg, source, tracks, out_dir)
    returncode, stderr = await run_confined(
        command, confinement, SUBTITLE_TIMEOUT, "reading the subtitles"
    )
    if returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()]
        log.warning("subtitle extraction failed: %s", " | ".join(lines[-5:]))
        limit = confinement.verdict(returncode)
        raise errors.TranscodeFailed(limit or f"ffmpeg exited with {returncode}")
    found = {track: subtitle_file(out_dir, track) for track in tracks}
    return {track: path for track, path in found.items() if path.is_file()}
