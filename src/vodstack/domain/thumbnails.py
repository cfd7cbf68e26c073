"""Thumbnails taken from the published ladder on demand: which rendition and which segment
hold the frame, and where the picture is kept once made. Pure, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vodstack.domain.playlist import MediaPlaylist

# A few fixed widths, so that a cache of pictures stays small and every page asks for the
# same few; the library's cards, the player's poster and a large poster.
THUMBNAIL_WIDTHS = (160, 320, 640, 1280)
DEFAULT_WIDTH = 640
# An explicit time is rounded to this step: a URL for every millisecond would make a new
# picture, and a new stored object, for each.
TIME_STEP = 0.1


@dataclass(frozen=True, slots=True)
class FrameSource:
    """Where a frame is: the rendition's init segment and the segment that holds it, as
    paths under the published epoch, and how far into that segment it is."""

    init: str
    segment: str
    offset: float


def check_width(width: int) -> int:
    if width not in THUMBNAIL_WIDTHS:
        sizes = ", ".join(str(w) for w in THUMBNAIL_WIDTHS)
        raise ValueError(f"width must be one of {sizes}, not {width}")
    return width


def rounded_time(seconds: float, duration: float | None) -> float:
    """``seconds`` on the step, inside the video: past its end is its last frame."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("time must be a number of seconds, 0 or more")
    if duration is not None and seconds >= duration:
        raise ValueError(f"time is {seconds:g} s, past the end of the video ({duration:.3f} s)")
    return round(round(seconds / TIME_STEP) * TIME_STEP, 3)


def rendition_for(renditions: Sequence[Mapping[str, Any]], width: int) -> Mapping[str, Any]:
    """The smallest rendition at least ``width`` wide, else the widest: a picture is
    scaled down from it, never up."""
    if not renditions:
        raise ValueError("the video has no renditions")
    ordered = sorted(renditions, key=lambda r: (int(r["width"]), int(r["height"])))
    return next((r for r in ordered if int(r["width"]) >= width), ordered[-1])


def frame_source(playlist: MediaPlaylist, folder: str, seconds: float) -> FrameSource:
    """The segment of ``playlist`` (in ``folder`` under the epoch) that holds ``seconds``;
    past its last segment, the last one's last frame."""
    if playlist.map_uri is None or not playlist.segments:
        raise ValueError("the rendition has no segments")
    start = 0.0
    for segment in playlist.segments:
        if seconds < start + segment.duration:
            break
        start += segment.duration
    else:
        start -= segment.duration
    offset = min(max(0.0, seconds - start), max(0.0, segment.duration - 0.001))
    return FrameSource(f"{folder}/{playlist.map_uri}", f"{folder}/{segment.uri}", offset)


def thumbnail_key(prefix: str, width: int, seconds: float) -> str:
    """Under the published epoch: a new encode, or deleting the video, takes them along."""
    return f"{prefix}/thumbnails/w{width}/t{round(seconds * 1000)}.jpg"
