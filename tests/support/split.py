"""A video that the worker splits into parts, as the end-to-end tests build it: the first
12 s of a 70 s source, in two chunks (6 and 6 s) and two tiers of rungs (240p for the whole
video first, then 332p), and its audio once. And shorter cuts of that film for the tests
that follow one job in one piece: the film's whole 70 s only makes them slower."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

from tests.conftest import media

SOURCE = "mdn_tears_of_steel_800x332_vp8_70s.webm"
SECONDS = 12
SETTINGS = {
    "VODSTACK_CHUNK_SINGLE_BELOW_SECONDS": "0",
    "VODSTACK_FIRST_TIER_HEIGHT": "240",
    # A part whose worker died is taken on again within seconds.
    "VODSTACK_LEASE_SECONDS": "4",
    "VODSTACK_HEARTBEAT_SECONDS": "1",
}


def split_clip(folder: Path) -> Path:
    """The clip, cut from the shared media without encoding it again."""
    return cut(SOURCE, SECONDS, folder / "clip.webm")


def cut(name: str, seconds: float, target: Path) -> Path:
    """The first ``seconds`` of the shared media file ``name``, stream-copied: no encoding
    and no generation loss, so the cut costs next to nothing."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-y"]
    command += ["-i", str(media(name))]
    subprocess.run([*command, "-t", f"{seconds:g}", "-c", "copy", str(target)], check=True)
    return target
