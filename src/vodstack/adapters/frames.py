"""The real FrameGrabber: ffmpeg decodes one frame of a published segment and writes it as
a JPEG, confined like every child that reads media (``adapters.sandbox``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from vodstack import errors
from vodstack.adapters.sandbox import Confinement, run_confined

# A frame of one segment takes a fraction of a second: these stop only a run gone wrong.
GRAB_SECONDS = 30.0
_CONFINEMENT = Confinement(
    memory_bytes=2 * 2**30, cpu_seconds=30, file_bytes=16 * 2**20, isolate_network=True
)
JPEG_QUALITY = 3  # ffmpeg's -q:v for mjpeg: 2 is the best, 31 the worst


def grab_command(ffmpeg: str, media: Path, offset: float, width: int, out: Path) -> list[str]:
    """Only the fMP4 demuxer and the file protocol: the segment is the ladder's own, but
    nothing it says may make ffmpeg open anything else."""
    return [
        *(ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"),
        *("-format_whitelist", "mov", "-protocol_whitelist", "file"),
        *("-ss", f"{offset:.3f}", "-i", str(media), "-frames:v", "1", "-an"),
        # Never wider than the frame itself: a small rendition is not blown up.
        *("-vf", f"scale='min({width},iw)':-2", "-q:v", str(JPEG_QUALITY)),
        *("-f", "image2", "-update", "1", str(out)),
    ]


class FfmpegFrameGrabber:
    def __init__(self, ffmpeg: str) -> None:
        self.ffmpeg = ffmpeg

    async def grab(self, media: Path, offset: float, width: int, out: Path) -> None:
        command = grab_command(self.ffmpeg, media, offset, width, out)
        returncode, stderr = await run_confined(
            command, _CONFINEMENT, GRAB_SECONDS, "making the picture"
        )
        if returncode != 0 or not await asyncio.to_thread(_written, out):
            last = stderr.strip().splitlines()[-1:] or ["no output"]
            raise errors.TranscodeFailed(f"the frame could not be decoded: {last[0][:300]}")


def _written(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0
