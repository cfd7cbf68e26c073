"""Storyboards and the cover, the pure rules: how far apart tiles are, where each lands on
its sheet, which keyframes the command keeps, the VTT players read, how detailed a tile
is, which tile is the cover, a chunked video's storyboard assembled from its parts, and
when no ffmpeg runs for one or its failure is let go."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.support.parts import part_output, split_plan
from vodstack import errors
from vodstack.adapters.sandbox import Confinement
from vodstack.adapters.storyboard import Storyboard, make_storyboard
from vodstack.domain.chunks import PartOutput, assemble
from vodstack.domain.pictures import (
    STORYBOARD_VTT,
    StoryboardPlan,
    Tile,
    choose_cover,
    keyframe_times,
    luma_entropy,
    picked_times,
    place_tiles,
    render_vtt,
    rewrite_cue_uris,
    sheet_grid,
    storyboard_command,
    tile_interval,
    tile_size,
    tile_times,
    vtt_time,
)


@pytest.mark.parametrize(
    ("duration", "interval"),
    [(0.5, 2), (14.0, 2), (200.0, 2), (200.5, 4), (400.0, 4), (401.0, 6), (36_000.0, 360)],
)
def test_a_tile_every_keyframe_until_a_video_would_need_more_than_100(
    duration: float, interval: int
) -> None:
    assert tile_interval(duration) == interval
    assert len(tile_times(0.0, duration, interval)) <= 100


def test_tiles_are_160_wide_with_an_even_height_and_never_upscaled() -> None:
    assert tile_size(426, 240) == (160, 90)
    assert tile_size(240, 426) == (160, 284)
    assert tile_size(160, 120) == (160, 120)
    assert tile_size(121, 161) == (120, 160)


def test_a_span_has_the_interval_multiples_inside_it() -> None:
    assert tile_times(0.0, 14.0, 2) == (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0)
    assert tile_times(6.0, 18.0, 4) == (8.0, 12.0, 16.0)
    assert tile_times(18.0, 19.5, 4) == ()


def test_sheets_are_at_most_ten_by_ten_and_no_bigger_than_needed() -> None:
    assert sheet_grid(3) == (3, 1)
    assert sheet_grid(25) == (10, 3)
    assert sheet_grid(250) == (10, 10)
    tiles = place_tiles([float(2 * n) for n in range(103)], (160, 90), (10, 10))
    assert (tiles[0].sheet, tiles[0].x, tiles[0].y) == ("sheet_000.jpg", 0, 0)
    assert (tiles[11].x, tiles[11].y) == (160, 90)
    assert (tiles[99].x, tiles[99].y) == (1440, 810)
    assert (tiles[100].sheet, tiles[100].x, tiles[100].y) == ("sheet_001.jpg", 0, 0)


def test_the_kept_keyframes_are_on_the_whole_videos_grid_whatever_the_offset() -> None:
    """A chunk from 6 s, its output timeline a second out, a tile every 4 s; its keyframes
    a frame late, as forced keyframes may be."""
    plan = StoryboardPlan(6.0, 18.0, 401.0, 426, 240)
    assert plan.interval == 6
    keyframes = [7.0, 9.04, 11.0, 13.04, 15.0, 17.04]
    assert picked_times(keyframes, plan) == [6.0, 12.0]
    plan = dataclasses.replace(plan, duration=300.0)  # every 4 s
    assert picked_times(keyframes, plan) == [8.0, 12.0, 16.0]


def test_keyframe_times_are_read_from_framecrc() -> None:
    text = (
        "#software: Lavf\n#tb 0: 1001/30000\n#media_type 0: video\n"
        "0,          0,          0,        1,   57600, 0x1\n"
        "0,         60,         60,        1,   57600, 0x2\n"
    )
    assert keyframe_times(text) == [0.0, pytest.approx(60 * 1001 / 30000)]


def test_the_command_reads_our_own_output_only_and_keeps_keyframes() -> None:
    plan = StoryboardPlan(6.0, 18.0, 300.0, 426, 240)
    command = storyboard_command("ffmpeg", Path("/o/240p/index.m3u8"), Path("/o/sb"), plan)
    assert command[command.index("-format_whitelist") + 1] == "hls,mov"
    assert command[command.index("-protocol_whitelist") + 1] == "file"
    assert command.index("-skip_frame") < command.index("-i")
    graph = command[command.index("-filter_complex") + 1]
    assert "scale=w=160:h=90" in graph
    assert "select='eq(mod(3+round((t-start_t)/2)\\,2)\\,0)'" in graph
    assert "tile=layout=3x1" in graph
    assert command[-1] == "/o/sb/sheet_%03d.jpg"


def test_the_vtt_has_a_cue_per_tile_until_the_next_and_the_last_until_the_end() -> None:
    tiles = place_tiles([0.0, 2.0, 4.0], (160, 90), (3, 1))
    assert render_vtt(list(reversed(tiles)), 2, 5.5) == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.000\nsheet_000.jpg#xywh=0,0,160,90\n\n"
        "00:00:02.000 --> 00:00:04.000\nsheet_000.jpg#xywh=160,0,160,90\n\n"
        "00:00:04.000 --> 00:00:05.500\nsheet_000.jpg#xywh=320,0,160,90\n"
    )
    assert vtt_time(3723.4567) == "01:02:03.457"


def test_cue_sheets_are_rewritten_before_their_fragment() -> None:
    vtt = render_vtt(place_tiles([0.0], (160, 90), (1, 1)), 2, 1.0)
    rewritten = rewrite_cue_uris(vtt, lambda uri: f"{uri}?token=t")
    assert "sheet_000.jpg?token=t#xywh=0,0,160,90" in rewritten
    assert rewritten.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n")


def _plane(levels: list[int], width: int, height: int, stride: int) -> bytes:
    rows = [
        bytes(levels[(y * width + x) % len(levels)] for x in range(width)) for y in range(height)
    ]
    return b"".join(row + b"\xff" * (stride - width) for row in rows)


def test_entropy_is_low_for_flat_and_dim_pictures_and_high_for_detailed_ones() -> None:
    black = _plane([16], 32, 8, 40)
    assert luma_entropy(black, 32, 8, 40) == 0.0  # the padding past the width is not counted
    two_levels = _plane([16, 40], 32, 8, 40)
    assert luma_entropy(two_levels, 32, 8, 40) == pytest.approx(1.0)
    detailed = _plane(list(range(0, 256)), 32, 8, 32)
    assert luma_entropy(detailed, 32, 8, 32) == pytest.approx(8.0)
    dim = _plane([v // 4 for v in range(256)], 32, 8, 32)  # a fade's start: a quarter lit
    assert luma_entropy(dim, 32, 8, 32) == pytest.approx(6.0)
    # A rectangle of a sheet: the second tile of two side by side.
    sheet = b"".join(bytes([0] * 4 + list(range(4))) for _ in range(4))
    assert luma_entropy(sheet, 4, 4, 8, offset=4) == pytest.approx(2.0)


def _tiles(scores: list[float]) -> list[Tile]:
    tiles = place_tiles([2.0 * n for n in range(len(scores))], (160, 90), (10, 10))
    return [dataclasses.replace(t, score=s) for t, s in zip(tiles, scores, strict=True)]


def test_the_cover_is_the_most_detailed_tile_after_the_opening() -> None:
    # 60 s: the first 6 s (a tenth) are skipped, however detailed their tiles are.
    scores = [7.9, 7.9, 7.9, 5.0, 6.0, 7.0, 6.5] + [6.0] * 23
    assert choose_cover(_tiles(scores), 60.0) == 10.0
    # 200 s: at most 10 s are skipped.
    scores = [7.9] * 5 + [1.0, 7.0] + [6.0] * 93
    assert choose_cover(_tiles(scores), 200.0) == 12.0


def test_equal_tiles_give_the_earliest_and_a_short_video_skips_its_first_tile() -> None:
    assert choose_cover(_tiles([5.0, 6.0, 7.0, 7.0, 7.0]), 10.0) == 4.0
    assert choose_cover(_tiles([8.0, 1.0]), 3.0) == 2.0  # 0.3 s skipped: still the first tile
    assert choose_cover(_tiles([8.0]), 1.0) == 0.0
    assert choose_cover([], 10.0) is None


def test_a_chunked_videos_vtt_and_cover_come_from_its_published_parts() -> None:
    plan = split_plan()  # 40 s: chunks 0-6, 6-18, 18-40
    outputs = {}
    for key in ("audio", "c0t1", "c1t1"):
        output = part_output(plan, key)
        part = plan.part(key)
        if key != "audio":
            sub = output.rungs[0].folder
            tiles = _tiles([1.0] * 20)
            tiles = [
                dataclasses.replace(t, sheet=f"{sub}/{t.sheet}", score=t.time / 10)
                for t in tiles
                if part.start <= t.time < part.end
            ]
            output = dataclasses.replace(output, tiles=tuple(tiles))
        outputs[key] = PartOutput.from_json(json.loads(json.dumps(output.to_json())))
    assembly = assemble(plan, outputs)
    vtt = assembly.playlists[STORYBOARD_VTT]
    assert vtt.count(" --> ") == 9  # 0 to 16 s: what the first two chunks hold
    assert "00:00:04.000 --> 00:00:06.000\nc0a1/sheet_000.jpg#xywh=320,0,160,90" in vtt
    assert "00:00:16.000 --> 00:00:18.000\nc1a1/sheet_000.jpg#xywh=" in vtt
    assert assembly.cover_time == 16.0


def test_a_part_recorded_before_storyboards_has_none() -> None:
    output = part_output(split_plan(), "c0t1")
    stored = output.to_json()
    del stored["tiles"]
    assert PartOutput.from_json(stored).tiles == ()
    assert STORYBOARD_VTT not in assemble(split_plan(), {"c0t1": output}).playlists


async def test_a_span_without_tiles_runs_no_ffmpeg_and_a_failed_run_leaves_none(
    tmp_path: Path,
) -> None:
    commands: list[list[str]] = []

    async def failing(command: list[str], duration: float, confinement: Confinement) -> None:
        commands.append(command)
        (tmp_path / "sb" / "sheet_000.jpg").write_bytes(b"half a sheet")
        raise errors.TranscodeFailed("ffmpeg exited with 1")

    playlist, folder = tmp_path / "240p/index.m3u8", tmp_path / "sb"
    # Two hours: a tile every 72 s, none of them between 80 and 140 s.
    between = StoryboardPlan(80.0, 140.0, 7200.0, 426, 240)
    board = await make_storyboard("ffmpeg", failing, playlist, folder, between, Confinement())
    assert board == Storyboard((), ())
    assert commands == []
    # A storyboard that cannot be made is no reason to fail the encode: the video plays.
    whole = StoryboardPlan(0.0, 14.0, 14.0, 426, 240)
    assert await make_storyboard("ffmpeg", failing, playlist, folder, whole, Confinement()) is None
    assert len(commands) == 1
    assert not folder.exists()
