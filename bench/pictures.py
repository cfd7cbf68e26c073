"""What the pictures around the stream cost: the storyboard against the encode it follows,
and a new thumbnail against one already kept.

Side by side in one run, per source: the one-piece encode of the whole ladder (which now
ends with the I-frame playlists and the storyboard), then the storyboard step alone on that
output (the median of several runs), and the share of the encode it is. Then thumbnails
from that output, as the play API makes them: one frame of one segment, at 320 and at
1280 px, made (ffmpeg, the median of several) and read back once kept.

    .venv/bin/python -m bench.pictures           # two sources, 5 runs each
    .venv/bin/python -m bench.pictures --smoke   # a short generated clip, 2 runs

Goal: the storyboard costs at most 10 % of the encode, and a new thumbnail at most 0.5 s.
Exits 1 when a goal is missed (never with --smoke).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.support import hostile

from vodstack.adapters.ffmpeg import FfmpegTranscoder, default_ffmpeg, storyboard_rung
from vodstack.adapters.frames import FfmpegFrameGrabber
from vodstack.domain.ladder import plan_ladder
from vodstack.domain.pictures import StoryboardPlan
from vodstack.domain.playlist import parse_media_playlist
from vodstack.domain.thumbnails import rendition_for
from vodstack.settings import Settings

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
SAMPLES = ("mdn_tears_of_steel_800x332_vp8_70s.webm", "axm_long_1080p30_6min_lowbitrate.mp4")
# The long sample is cut to this much: the ratio is what is measured, not the film.
SECONDS = 90.0
MAX_SHARE = 0.10
MAX_THUMBNAIL = 0.5


async def median_seconds(run: Callable[[], Awaitable[object]], times: int) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        await run()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent)


async def one_source(
    transcoder: FfmpegTranscoder, source: Path, work: Path, times: int
) -> dict[str, Any]:
    info = await transcoder.probe(source)
    out = work / "out"
    started = time.perf_counter()
    result = await transcoder.transcode(
        source, info, out, lambda _: None, max_seconds=min(info.duration, SECONDS)
    )
    encode = time.perf_counter() - started
    low = storyboard_rung(plan_ladder(info))
    plan = StoryboardPlan(0.0, result.duration, result.duration, low.width, low.height)
    board = await median_seconds(lambda: transcoder.storyboard(out, low, plan), times)
    row: dict[str, Any] = {
        "source": source.name,
        "media_s": result.duration,
        "encode_s": encode,
        "storyboard_s": board,
        "storyboard_share": board / encode,
        "cover_time": result.cover_time,
    }
    renditions = [dataclasses.asdict(r) for r in result.renditions]
    for width in (320, 1280):
        # From the rendition the play API takes: the smallest at least as wide.
        playlist = out / str(rendition_for(renditions, width)["playlist"])
        row[f"thumbnail_{width}_s"], row[f"kept_{width}_s"] = await thumbnail(
            transcoder.ffmpeg, playlist, work, width, times
        )
    shutil.rmtree(out)
    return row


async def thumbnail(
    ffmpeg: str, playlist: Path, work: Path, width: int, times: int
) -> tuple[float, float]:
    """A frame from the middle segment, joined to its init segment as the play API joins
    them; and reading the kept picture back."""
    media = await asyncio.to_thread(_middle_segment, playlist, work / "media.mp4")
    grabber = FfmpegFrameGrabber(ffmpeg)
    picture = work / f"w{width}.jpg"
    made = await median_seconds(lambda: grabber.grab(media, 2.0, width, picture), times)
    kept = await median_seconds(lambda: asyncio.to_thread(picture.read_bytes), times)
    return made, kept


def _middle_segment(playlist: Path, media: Path) -> Path:
    parsed = parse_media_playlist(playlist.read_text())
    assert parsed.map_uri is not None
    segment = parsed.segments[len(parsed.segments) // 2]
    folder = playlist.parent
    media.write_bytes((folder / parsed.map_uri).read_bytes() + (folder / segment.uri).read_bytes())
    return media


async def measure(sources: list[Path], times: int) -> dict[str, Any]:
    transcoder = FfmpegTranscoder(default_ffmpeg(Settings(_env_file=None)), encoder="libx264")
    rows = []
    for source in sources:
        with tempfile.TemporaryDirectory() as folder:
            rows.append(await one_source(transcoder, source, Path(folder), times))
    share = max(float(r["storyboard_share"]) for r in rows)
    slowest = max(float(r[f"thumbnail_{w}_s"]) for r in rows for w in (320, 1280))
    return {
        "sources": rows,
        "max_storyboard_share": share,
        "slowest_thumbnail_s": slowest,
        "goals_met": share <= MAX_SHARE and slowest <= MAX_THUMBNAIL,
    }


def show(report: dict[str, Any]) -> None:
    print(f"{'source':42} {'media':>6} {'encode':>8} {'storyboard':>10} {'share':>6} "
          f"{'thumb 320':>9} {'thumb 1280':>10} {'kept':>7}")  # fmt: skip
    for r in report["sources"]:
        cost = f"{r['encode_s']:7.2f}s {r['storyboard_s']:9.3f}s {r['storyboard_share']:6.1%}"
        thumbnails = f"{r['thumbnail_320_s']:8.3f}s {r['thumbnail_1280_s']:9.3f}s"
        print(
            f"{r['source']:42} {r['media_s']:5.0f}s {cost} {thumbnails} "
            f"{r['kept_1280_s'] * 1000:5.2f}ms"
        )
    print(
        f"\nthe storyboard costs at most {report['max_storyboard_share']:.1%} of the encode "
        f"(goal {MAX_SHARE:.0%}); the slowest new thumbnail {report['slowest_thumbnail_s']:.3f} s "
        f"(goal {MAX_THUMBNAIL} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a short generated clip, 2 runs")
    parser.add_argument("--json", action="store_true", help="end with the report as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.smoke:
            clip = Path(folder) / "clip.mp4"
            hostile.ffmpeg(
                *("-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=14", "-c:v", "libx264"),
                *("-preset", "ultrafast", str(clip)),
            )
            sources = [clip]
        else:
            if not MEDIA.is_dir():
                raise SystemExit(f"the test media is missing: expected {MEDIA}")
            sources = [MEDIA / name for name in SAMPLES]
        report = asyncio.run(measure(sources, 2 if args.smoke else 5))
    report["enforced"] = not args.smoke
    show(report)
    if args.json:
        print(json.dumps(report))
    if report["enforced"] and not report["goals_met"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
