"""The storyboard and the cover on real ffmpeg: a source that opens black and fades in
gets a cover after the fade, on a lit and detailed frame; and each tile of the sheets is
the lowest rung's picture at its cue's time, and clearly not another time's."""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import imageio_ffmpeg
import pytest
from av.video.frame import VideoFrame

from vodstack.adapters.ffmpeg import FfmpegTranscoder
from vodstack.domain.chunks import PartKind, plan_video
from vodstack.domain.ladder import output_frame_rate, plan_ladder
from vodstack.domain.media import TranscodeResult

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SECONDS = 14
BLACK_UNTIL, FADE_SECONDS = 2, 6
GRID = (16, 9)
CUE = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d{3}) --> .*\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)$", re.M)


@dataclass(frozen=True)
class Encoded:
    source: Path
    out: Path
    result: TranscodeResult


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> Encoded:
    """A zooming Mandelbrot set (every frame unlike the last few seconds' ones), black for
    its first 2 s and fading in over the next 6, through the whole pipeline once."""
    folder = tmp_path_factory.mktemp("storyboard")
    source = folder / "fade.mp4"
    generated = f"mandelbrot=s=640x360:r=25:maxiter=256,fade=in:st={BLACK_UNTIL}:d={FADE_SECONDS}"
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", generated]
    command += ["-t", str(SECONDS), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18"]
    subprocess.run([*command, "-pix_fmt", "yuv420p", str(source)], check=True, timeout=120)
    transcoder = FfmpegTranscoder(FFMPEG, encoder="libx264", stall_timeout=60)

    async def encode() -> TranscodeResult:
        info = await transcoder.probe(source)
        return await transcoder.transcode(source, info, folder / "out", lambda _: None)

    return Encoded(source, folder / "out", asyncio.run(encode()))


def test_the_cover_is_after_the_fade_on_a_lit_detailed_frame(encoded: Encoded) -> None:
    cover = encoded.result.cover_time
    assert cover is not None
    assert BLACK_UNTIL + FADE_SECONDS <= cover < SECONDS
    top = encoded.result.renditions[0]
    plane = luma(frame_at(encoded.out / top.playlist, cover))
    mean = sum(plane) / len(plane)
    deviation = math.sqrt(sum((v - mean) ** 2 for v in plane) / len(plane))
    assert mean > 40, mean
    assert deviation > 20, deviation
    # What the check tells apart: the opening frame is black.
    opening = luma(frame_at(encoded.out / top.playlist, 0.0))
    assert sum(opening) / len(opening) < 20


def test_each_tile_is_the_lowest_rung_at_its_cue(encoded: Encoded) -> None:
    vtt = (encoded.out / "storyboard/storyboard.vtt").read_text()
    assert vtt.startswith("WEBVTT\n")
    cues = [
        (int(h) * 3600 + int(m) * 60 + float(s), sheet, tuple(map(int, box)))
        for h, m, s, sheet, *box in CUE.findall(vtt)
    ]
    assert [t for t, _, _ in cues] == [float(t) for t in range(0, SECONDS, 2)]
    assert {f"storyboard/{sheet}" for _, sheet, _ in cues} <= {
        p.as_posix() for p in encoded.result.files
    }
    lowest = encoded.result.renditions[-1]
    for time, sheet, box in cues[4:]:  # lit frames: black ones all look alike
        tile = tile_grid(encoded.out / "storyboard" / sheet, box)
        frame = frame_at(encoded.out / lowest.playlist, time)
        # The sheets are full-range JPEG, the rung limited-range H.264.
        seen = [(v - 16) * 255 / 219 for v in block_average(luma(frame), frame.width, frame.height)]
        assert difference(tile, seen) < 8, time
        # And no other tile matches it: the check tells one time from another.
        for other_time, other_sheet, other_box in cues[3:]:
            if other_time != time:
                other = tile_grid(encoded.out / "storyboard" / other_sheet, other_box)
                assert difference(other, seen) > 12, (time, other_time)


async def test_a_chunk_makes_the_tiles_of_its_span_at_the_whole_videos_times(
    encoded: Encoded, tmp_path: Path
) -> None:
    transcoder = FfmpegTranscoder(FFMPEG, encoder="libx264", stall_timeout=60)
    info = await transcoder.probe(encoded.source)
    plan = plan_video(info, plan_ladder(info), output_frame_rate(info), first=6, longest=12)
    assert plan is not None
    part = next(p for p in plan.parts if p.kind is PartKind.CHUNK and p.index == 1 and p.tier == 1)
    assert (part.start, part.end) == (6.0, SECONDS)
    result = await transcoder.transcode_part(encoded.source, plan, part, tmp_path, lambda _: None)
    assert [t.time for t in result.tiles] == [6.0, 8.0, 10.0, 12.0]
    assert {t.sheet for t in result.tiles} == {"sheet_000.jpg"}
    assert sorted(p.name for p in (tmp_path / "storyboard").iterdir()) == ["sheet_000.jpg"]
    # The same pictures as the whole video's tiles at those times.
    vtt = (encoded.out / "storyboard/storyboard.vtt").read_text()
    whole = {
        int(h) * 3600 + int(m) * 60 + float(s): (sheet, tuple(map(int, box)))
        for h, m, s, sheet, *box in CUE.findall(vtt)
    }
    for tile in result.tiles:
        box = (tile.x, tile.y, tile.w, tile.h)
        mine = tile_grid(tmp_path / "storyboard" / tile.sheet, box)
        sheet, theirs = whole[tile.time]
        assert difference(mine, tile_grid(encoded.out / "storyboard" / sheet, theirs)) < 8
    assert max(t.score for t in result.tiles[1:]) > result.tiles[0].score  # 6 s: still dim


def frame_at(playlist: Path, time: float) -> VideoFrame:
    """The rendition's frame shown at ``time`` s after its first, decoded through its
    init segment and segments joined."""
    folder = playlist.parent
    names = [line for line in playlist.read_text().splitlines() if line.endswith(".m4s")]
    joined = folder / "joined.mp4"
    joined.write_bytes(b"".join((folder / n).read_bytes() for n in ["init.mp4", *names]))
    try:
        with av.open(str(joined)) as container:
            first = None
            for frame in container.decode(video=0):
                assert frame.time is not None
                first = frame.time if first is None else first
                if frame.time - first >= time - 0.001:
                    return frame
    finally:
        joined.unlink()
    raise AssertionError(f"no frame at {time} s")


def luma(frame: VideoFrame) -> list[int]:
    plane = frame.planes[0]
    data = bytes(plane)
    return [
        v
        for y in range(frame.height)
        for v in data[y * plane.line_size : y * plane.line_size + frame.width]
    ]


def tile_grid(sheet: Path, box: tuple[int, ...]) -> list[float]:
    x, y, w, h = box
    with av.open(str(sheet)) as container:
        frame = next(container.decode(video=0))
    plane = frame.planes[0]
    data = bytes(plane)
    pixels = [
        v
        for row in range(y, y + h)
        for v in data[row * plane.line_size + x : row * plane.line_size + x + w]
    ]
    return block_average(pixels, w, h)


def block_average(pixels: list[int], width: int, height: int) -> list[float]:
    columns, rows = GRID
    out = []
    for j in range(rows):
        for i in range(columns):
            block = [
                pixels[y * width + x]
                for y in range(j * height // rows, (j + 1) * height // rows)
                for x in range(i * width // columns, (i + 1) * width // columns)
            ]
            out.append(sum(block) / len(block))
    return out


def difference(a: list[float], b: list[float]) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)
