"""Storyboards and the cover frame: which frames become tiles, how tiles are packed into
sheets, the WebVTT that points a player's scrubbing preview at them, the ffmpeg command
that makes the sheets, and which tile is the video's cover. Pure, no I/O.

The tiles come from the ladder's lowest rung once it is encoded, decoding its keyframes
only: every rung has a keyframe exactly every ``KEYFRAME_SECONDS`` on the output timeline,
so a tile at each multiple of the interval is a keyframe, and nothing decodes the source
a second time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from vodstack.domain.grid import KEYFRAME_SECONDS

STORYBOARD = "storyboard"  # the folder of the sheets and the VTT, beside the rungs'
VTT_NAME = "storyboard.vtt"
STORYBOARD_VTT = f"{STORYBOARD}/{VTT_NAME}"
SHEET_PATTERN = "sheet_%03d.jpg"
TILE_WIDTH = 160
SHEET_COLUMNS = 10
SHEET_ROWS = 10
# A scrubbing preview needs no more: more tiles only make the sheets bigger to load.
MAX_TILES = 100
JPEG_QUALITY = 4  # mjpeg's -q:v: 2 is best, 31 worst
# The opening seconds are often black, a fade or a title card: the cover comes after them.
COVER_SKIP_SHARE = 0.1
COVER_SKIP_MAX = 10.0
# The list of keyframe times ffmpeg writes beside the sheets; not published.
TIMES_NAME = "keyframes.crc"
# What the storyboard's ffmpeg may open: our own HLS output, and nothing else.
OWN_OUTPUT_DEMUXERS = ("hls", "mov")


@dataclass(frozen=True, slots=True)
class Tile:
    """One picture of the storyboard: its time on the whole video's timeline, the sheet
    it is on (relative to the VTT's folder), its rectangle there, and how much detail it
    holds (see ``luma_entropy``)."""

    time: float
    sheet: str
    x: int
    y: int
    w: int
    h: int
    score: float = 0.0

    def to_json(self) -> list[Any]:
        return [self.time, self.sheet, self.x, self.y, self.w, self.h, self.score]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> Tile:
        time, sheet, x, y, w, h, score = data
        return cls(float(time), str(sheet), int(x), int(y), int(w), int(h), float(score))


@dataclass(frozen=True, slots=True)
class StoryboardPlan:
    """The tiles one ffmpeg run makes: those of the span ``[start, end)`` of a video
    ``duration`` seconds long, from a rendition ``width`` x ``height``."""

    start: float
    end: float
    duration: float
    width: int
    height: int

    @property
    def interval(self) -> int:
        return tile_interval(self.duration)

    @property
    def tile_size(self) -> tuple[int, int]:
        return tile_size(self.width, self.height)

    @property
    def times(self) -> tuple[float, ...]:
        return tile_times(self.start, self.end, self.interval)

    @property
    def grid(self) -> tuple[int, int]:
        return sheet_grid(len(self.times))

    @property
    def first_keyframe(self) -> int:
        """The number of the span's first keyframe on the whole video's grid."""
        return round(self.start / KEYFRAME_SECONDS)


def tile_interval(duration: float) -> int:
    """Seconds between tiles: a keyframe interval, or the smallest multiple of it that
    keeps the whole video to ``MAX_TILES`` tiles."""
    steps = math.ceil(max(duration, 0.0) / (KEYFRAME_SECONDS * MAX_TILES))
    return KEYFRAME_SECONDS * max(1, steps)


def tile_size(width: int, height: int) -> tuple[int, int]:
    """``TILE_WIDTH`` wide (or the rendition's own width, if narrower: never upscaled),
    the height by the aspect ratio; both even."""
    tile_width = min(TILE_WIDTH, width - width % 2)
    return tile_width, max(2, round(tile_width * height / width / 2) * 2)


def tile_times(start: float, end: float, interval: int) -> tuple[float, ...]:
    """The multiples of ``interval`` in ``[start, end)``."""
    first = math.ceil(start / interval - 1e-9)
    return tuple(float(n * interval) for n in range(first, math.ceil(end / interval - 1e-9)))


def sheet_grid(count: int) -> tuple[int, int]:
    """Columns and rows of a sheet: at most 10 x 10, and no bigger than ``count`` tiles
    need, so a chunk's few tiles do not make a sheet mostly empty."""
    columns = max(1, min(SHEET_COLUMNS, count))
    return columns, max(1, min(SHEET_ROWS, math.ceil(count / columns)))


def place_tiles(times: Sequence[float], size: tuple[int, int], grid: tuple[int, int]) -> list[Tile]:
    """Where ffmpeg's ``tile`` filter puts each tile: row by row, sheet after sheet."""
    (w, h), (columns, rows) = size, grid
    per_sheet = columns * rows
    return [
        Tile(
            time,
            SHEET_PATTERN % (index // per_sheet),
            (index % columns) * w,
            (index % per_sheet // columns) * h,
            w,
            h,
        )
        for index, time in enumerate(times)
    ]


def own_output_options() -> dict[str, str]:
    """What ffmpeg reading our own HLS output is opened with: the playlist and fMP4
    demuxers and local files only, as untrusted inputs are (see ``input_options``)."""
    return {"format_whitelist": ",".join(OWN_OUTPUT_DEMUXERS), "protocol_whitelist": "file"}


def storyboard_command(
    ffmpeg: str, playlist: Path, folder: Path, plan: StoryboardPlan
) -> list[str]:
    """Keyframes only (``-skip_frame nokey``), scaled to tiles; every keyframe's time goes
    to a list (so the tiles' times are read, not assumed), and the keyframes on the
    interval's grid are packed into sheets."""
    (w, h), (columns, rows) = plan.tile_size, plan.grid
    steps = plan.interval // KEYFRAME_SECONDS
    # The keyframe's number on the whole video's grid, counted from the span's first one
    # (``start_t``), so the choice holds whatever timeline offset the rendition has.
    number = f"{plan.first_keyframe}+round((t-start_t)/{KEYFRAME_SECONDS})"
    graph = (
        f"[0:v:0]scale=w={w}:h={h},setsar=1,split=2[all][pick];"
        f"[pick]select='eq(mod({number}\\,{steps})\\,0)',tile=layout={columns}x{rows}[sheets]"
    )
    command = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    command += ["-progress", "pipe:1", "-nostats"]
    for key, value in own_output_options().items():
        command += [f"-{key}", value]
    command += ["-skip_frame", "nokey", "-i", str(playlist), "-filter_complex", graph]
    command += ["-map", "[all]", "-fps_mode", "passthrough", "-f", "framecrc"]
    command += [str(folder / TIMES_NAME)]
    command += ["-map", "[sheets]", "-fps_mode", "passthrough", "-c:v", "mjpeg"]
    command += ["-q:v", str(JPEG_QUALITY), "-start_number", "0", "-f", "image2"]
    return [*command, str(folder / SHEET_PATTERN)]


def keyframe_times(framecrc: str) -> list[float]:
    """The times of the frames in ffmpeg's ``framecrc`` output, in seconds."""
    time_base = Fraction(1)
    times = []
    for line in framecrc.splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            fields = [f.strip() for f in line.split(",")]
            if len(fields) >= 3 and fields[0] == "0":
                times.append(float(int(fields[2]) * time_base))
    return times


def picked_times(keyframes: Sequence[float], plan: StoryboardPlan) -> list[float]:
    """The times on the whole video's timeline of the keyframes the command's ``select``
    keeps, by the same rule: each keyframe's number on the grid, a multiple of the step."""
    if not keyframes:
        return []
    steps = plan.interval // KEYFRAME_SECONDS
    numbers = [
        plan.first_keyframe + round((t - keyframes[0]) / KEYFRAME_SECONDS) for t in keyframes
    ]
    return [float(n * KEYFRAME_SECONDS) for n in numbers if n % steps == 0]


def luma_entropy(data: bytes, width: int, height: int, stride: int, offset: int = 0) -> float:
    """The Shannon entropy, in bits, of the histogram of a ``width`` x ``height`` rectangle
    of a luma plane (rows ``stride`` bytes apart, the first at ``offset``). A black or
    nearly uniform frame, or the dim start of a fade, has few distinct levels, so a low
    entropy; a detailed, well-lit frame spreads over many, so a high one."""
    if width <= 0 or height <= 0:
        return 0.0
    view = memoryview(data)
    pixels = b"".join(
        view[offset + row * stride : offset + row * stride + width] for row in range(height)
    )
    total = len(pixels)
    if total == 0:
        return 0.0
    return sum(n / total * math.log2(total / n) for n in Counter(pixels).values())


def choose_cover(tiles: Sequence[Tile], duration: float) -> float | None:
    """The time of the tile with the most detail, after the opening (its first tenth, at
    most ``COVER_SKIP_MAX`` s, and at least the first tile when there are others); the
    earliest of equals. None without tiles."""
    ordered = sorted(tiles, key=lambda t: t.time)
    if not ordered:
        return None
    skip = min(COVER_SKIP_SHARE * duration, COVER_SKIP_MAX)
    candidates = [t for t in ordered[1:] if t.time >= skip] or ordered[1:] or ordered
    best = candidates[0]
    for tile in candidates[1:]:
        if tile.score > best.score:
            best = tile
    return best.time


def render_vtt(tiles: Sequence[Tile], interval: float, duration: float) -> str:
    """The WebVTT a player's thumbnails plugin reads: a cue per tile, from its time until
    the next tile's (the last one's until the video ends), naming its sheet and its
    rectangle (a media fragment, ``#xywh=``)."""
    lines = ["WEBVTT", ""]
    for tile in sorted(tiles, key=lambda t: t.time):
        end = max(tile.time, min(tile.time + interval, duration))
        lines += [
            f"{vtt_time(tile.time)} --> {vtt_time(end)}",
            f"{tile.sheet}#xywh={tile.x},{tile.y},{tile.w},{tile.h}",
            "",
        ]
    return "\n".join(lines)


def vtt_time(seconds: float) -> str:
    milliseconds = round(max(seconds, 0.0) * 1000)
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def rewrite_cue_uris(text: str, resolve: Callable[[str], str]) -> str:
    """The VTT with each cue's sheet replaced by ``resolve(sheet)``, its ``#xywh=``
    fragment kept after it (so a query the resolver adds comes before the fragment)."""
    out = []
    for line in text.splitlines():
        uri, mark, fragment = line.partition("#xywh=")
        out.append(f"{resolve(uri)}{mark}{fragment}" if mark and uri else line)
    return "\n".join(out) + "\n"
