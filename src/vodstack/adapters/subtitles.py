"""A source's text subtitles, written out as WebVTT by one contained ffmpeg run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from vodstack import errors
from vodstack.adapters.sandbox import Confinement, network_isolation
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
    await asyncio.to_thread(network_isolation)  # tried once per process: not on the loop
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    command = subtitle_command(ffmpeg, source, tracks, out_dir)
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=confinement.preexec(),
            env={**os.environ, "MALLOC_ARENA_MAX": "2"},
        )
    except OSError as exc:
        raise errors.TranscodeFailed(f"cannot start ffmpeg: {exc.strerror}") from exc
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), SUBTITLE_TIMEOUT)
    except TimeoutError:
        raise errors.TranscodeFailed(
            f"reading the subtitles took longer than {SUBTITLE_TIMEOUT:.0f} s"
        ) from None
    finally:  # also when the job is cancelled: no run outlives it
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode != 0:
        lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
        log.warning("subtitle extraction failed: %s", " | ".join(lines[-5:]))
        limit = confinement.verdict(process.returncode or 0)
        raise errors.TranscodeFailed(limit or f"ffmpeg exited with {process.returncode}")
    found = {track: subtitle_file(out_dir, track) for track in tracks}
    return {track: path for track, path in found.items() if path.is_file()}
