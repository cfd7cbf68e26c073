"""Chunk plans and stitched playlists, by table and golden text."""

from __future__ import annotations

import dataclasses
import itertools
import json
from fractions import Fraction
from typing import Any

import pytest

from tests.support.hls import attributes, iframe_playlist_problems
from tests.support.parts import SOURCE_40S, part_output, split_plan
from vodstack.domain.chunks import (
    Chunk,
    PartKind,
    PartOutput,
    VideoPlan,
    assemble,
    plan_chunks,
    plan_video,
    replaces,
    stitch,
)
from vodstack.domain.jobs import Transition, progress_of
from vodstack.domain.ladder import plan_ladder
from vodstack.domain.media import SourceInfo
from vodstack.domain.playlist import MediaPlaylist, MediaSegment, parse_media_playlist
from vodstack.domain.videos import VideoStatus


@pytest.mark.parametrize(
    ("duration", "spans"),
    [
        (4.0, [(0, 4.0)]),  # shorter than the first chunk
        (6.0, [(0, 6.0)]),
        (11.9, [(0, 11.9)]),  # the 5.9 s tail would be under a segment: it joins
        (12.0, [(0, 6), (6, 12.0)]),
        (60.0, [(0, 6), (6, 18), (18, 42), (42, 60.0)]),
        (400.5, [(0, 6), (6, 18), (18, 42), (42, 90), (90, 150), (150, 210), (210, 270),
                 (270, 330), (330, 390), (390, 400.5)]),
    ],
)  # fmt: skip
def test_chunks_start_short_then_double_up_to_the_longest(
    duration: float, spans: list[tuple[float, float]]
) -> None:
    chunks = plan_chunks(duration, first=6, longest=60)
    assert [(c.start, c.end) for c in chunks] == spans
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[-1].end == duration
    for before, after in itertools.pairwise(chunks):
        assert before.end == after.start  # no gap, no overlap
        assert after.start % 6 == 0  # on whole segments, so on the 2 s keyframe grid
        assert after.first_segment == before.first_segment + round(before.duration / 6)


@pytest.mark.parametrize(
    ("duration", "slots", "lengths"),
    [
        # One slot: as coarse as ever (doubling up to 60 s).
        (60.0, 1, [6, 12, 24, 18]),
        # Two slots' shares are 30 s: the coarse plan's 24 s chunk already fits.
        (60.0, 2, [6, 12, 24, 18]),
        # Four slots' are 15 s: chunks of 12 s, on whole segments.
        (60.0, 4, [6, 12, 12, 12, 12, 6]),
        # More slots cannot cut below the shortest (12 s): a chunk costs a start and a seek.
        (60.0, 8, [6, 12, 12, 12, 12, 6]),
        (40.0, 2, [6, 12, 12, 10]),
        # The tail that would make the last chunk longer than the longest takes a segment.
        (70.0, 4, [6, 12, 12, 12, 12, 6, 10]),
        (65.9, 4, [6, 12, 12, 12, 12, 11.9]),
        (120.0, 2, [6, 12, 24, 48, 30]),
        (120.0, 4, [6, 12, 24, 30, 30, 18]),
        # A long source on few slots keeps the longest chunk (60 s).
        (362.8, 2, [6, 12, 24, 48, 60, 60, 60, 60, 32.8]),
        (362.8, 8, [6, 12, 24, 42, 42, 42, 42, 42, 42, 42, 26.8]),
        (213.0, 1, [6, 12, 24, 48, 60, 54, 9]),  # never above the longest, one slot too
    ],
)
def test_chunks_are_cut_for_the_live_slots(
    duration: float, slots: int, lengths: list[float]
) -> None:
    chunks = plan_chunks(duration, first=6, longest=60, shortest=12, slots=slots)
    assert [round(c.duration, 1) for c in chunks] == lengths
    assert chunks[0].duration == 6, "the first chunk stays short: the video plays soon"
    assert chunks[-1].end == duration
    share = duration / slots
    assert max(c.duration for c in chunks) <= max(share, 12)  # no longer than a slot's share
    assert max(c.duration for c in chunks) <= 60
    for before, after in itertools.pairwise(chunks):
        assert before.end == after.start
        assert after.start % 6 == 0  # whole segments, so on the 2 s keyframe grid
        assert before.duration % 6 == 0


@pytest.mark.parametrize("duration", [31.0, 47.5, 60.0, 61.0, 99.9, 180.0, 362.8, 1088.3])
@pytest.mark.parametrize("slots", [1, 2, 3, 4, 6, 16])
def test_no_chunk_outgrows_a_slots_share_or_the_longest(duration: float, slots: int) -> None:
    chunks = plan_chunks(duration, first=6, longest=60, shortest=12, slots=slots)
    longest = max(c.duration for c in chunks)
    assert longest <= 60
    assert longest <= max(duration / slots, 12)
    assert all(c.start % 6 == 0 for c in chunks)
    assert all(c.duration >= 6 for c in chunks[:-1])
    assert sum(c.duration for c in chunks) == pytest.approx(duration)
    # More slots never make a plan coarser.
    fewer = plan_chunks(duration, first=6, longest=60, shortest=12, slots=max(1, slots - 1))
    assert len(chunks) >= len(fewer)


def test_a_shortest_at_the_longest_keeps_the_coarse_plan() -> None:
    coarse = plan_chunks(60.0, first=6, longest=60)
    assert plan_chunks(60.0, first=6, longest=60, shortest=60, slots=4) == coarse


def test_a_short_source_keeps_one_chunk() -> None:
    assert plan_chunks(90.0, single_below=120) == (Chunk(0, 0.0, 90.0),)
    assert len(plan_chunks(130.0, single_below=120)) > 1


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"first": 5}, "whole number"),
        ({"longest": 0}, "whole number"),
        ({"first": 12, "longest": 6}, "cannot be shorter"),
        ({"shortest": 9}, "whole number"),
    ],
)
def test_plans_off_the_segment_grid_are_refused(options: dict[str, int], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        plan_chunks(100.0, **options)
    with pytest.raises(ValueError, match="duration"):
        plan_chunks(0.0)


def _part(*numbers: int, last: float = 6.0) -> MediaPlaylist:
    durations = [6.0] * (len(numbers) - 1) + [last]
    segments = tuple(
        MediaSegment(f"seg_{n:05d}.m4s", d) for n, d in zip(numbers, durations, strict=True)
    )
    return MediaPlaylist(6, segments, "init.mp4")


GOLDEN_GROWING = """\
#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXTINF:6.000000,
seg_00000.m4s
#EXTINF:6.000000,
seg_00001.m4s
#EXTINF:6.000000,
seg_00002.m4s
"""


def test_a_growing_playlist_is_the_chunks_in_order_without_an_end() -> None:
    growing = stitch([_part(0), _part(1, 2)], complete=False)
    assert growing.render() == GOLDEN_GROWING
    assert "DISCONTINUITY" not in growing.render()


def test_the_last_chunk_ends_it_as_vod() -> None:
    done = stitch([_part(0), _part(1, 2), _part(3, last=2.5)], complete=True)
    text = done.render()
    assert text.endswith("seg_00003.m4s\n#EXT-X-ENDLIST\n")
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text
    parsed = parse_media_playlist(text)
    assert parsed == MediaPlaylist(6, done.segments, "init.mp4", ended=True)
    assert parsed.duration == pytest.approx(20.5)


def test_stitching_refuses_what_players_would_choke_on() -> None:
    with pytest.raises(ValueError, match="first chunk"):
        stitch([], complete=False)
    with pytest.raises(ValueError, match="same segment"):
        stitch([_part(0, 1), _part(1, 2)], complete=True)  # numbering did not continue
    long_segment = stitch([_part(0, last=7.4)], complete=True)
    assert long_segment.target_duration == 7  # rounded, as RFC 8216 says


# --- split videos: plans, and the playlists their published parts assemble into --------

SOURCE = SOURCE_40S


def _plan(source: SourceInfo = SOURCE, **policy: Any) -> VideoPlan:
    return split_plan(source, **policy)


_output = part_output


def test_a_short_source_stays_one_piece_and_a_long_one_is_split_into_ranked_parts() -> None:
    short = dataclasses.replace(SOURCE, duration=20.0)
    assert plan_video(short, plan_ladder(short), Fraction(30), single_below=30) is None
    plan = _plan(single_below=30)
    assert plan.tiers == (("480p", "240p"), ("1080p", "720p"))
    by_rank = [p.key for p in sorted(plan.parts, key=lambda p: p.rank)]
    # The first chunk, then the audio, then the rest of the low rungs, then the high rungs.
    # The second tier longest first: it is listed only when whole.
    assert by_rank == ["c0t1", "audio", "c1t1", "c2t1", "c2t2", "c1t2", "c0t2"]
    assert [(p.start, p.end) for p in plan.parts if p.tier == 2] == [(0, 6), (6, 18), (18, 40)]
    assert VideoPlan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_one_tier_when_asked_and_no_audio_part_without_audio() -> None:
    plan = _plan(dataclasses.replace(SOURCE, has_audio=False), first_tier_height=0)
    assert plan.tiers == (("1080p", "720p", "480p", "240p"),)
    assert {p.kind for p in plan.parts} == {PartKind.CHUNK}


def test_nothing_plays_until_the_first_chunk_and_some_audio_are_in() -> None:
    plan = _plan()
    assert not assemble(plan, {}).playable
    first = {"c0t1": _output(plan, "c0t1")}
    assert not assemble(plan, first).playable, "a video with sound must not play silent"
    heard = first | {"audio": _output(plan, "audio", segments=1)}
    assembly = assemble(plan, heard)
    assert assembly.playable
    assert not assembly.complete
    assert [r.name for r in assembly.renditions] == ["480p", "240p"]
    assert assembly.pending == ("1080p", "720p")
    master = assembly.playlists["master.m3u8"]
    assert '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"' in master
    assert master.count('AUDIO="audio"') == 2
    assert "1080p" not in master
    low = parse_media_playlist(assembly.playlists["480p/index.m3u8"])
    assert [s.uri for s in low.segments] == ["c0a1/seg_00000.m4s"]
    assert not low.ended
    assert low.map_uri == "c0a1/init.mp4"
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in assembly.playlists["480p/index.m3u8"]


def test_a_rung_lists_its_chunks_up_to_the_first_missing_one() -> None:
    plan = _plan()
    outputs = {k: _output(plan, k) for k in ("c0t1", "audio", "c2t1", "c0t2", "c1t2", "c2t2")}
    assembly = assemble(plan, outputs)
    low = parse_media_playlist(assembly.playlists["480p/index.m3u8"])
    assert [s.uri for s in low.segments] == ["c0a1/seg_00000.m4s"], "chunk 1 is not in yet"
    assert {r.name for r in assembly.renditions} == {"1080p", "720p", "480p", "240p"}
    outputs["c1t1"] = _output(plan, "c1t1", attempt=3)
    done = assemble(plan, outputs)
    assert done.complete
    assert done.done == pytest.approx(1.0)
    low = parse_media_playlist(done.playlists["480p/index.m3u8"])
    assert low.ended
    assert [s.uri for s in low.segments] == [
        "c0a1/seg_00000.m4s",
        "c1a3/seg_00001.m4s",
        "c1a3/seg_00002.m4s",
        *(f"c2a1/seg_{n:05d}.m4s" for n in range(3, 7)),
    ]
    assert low.duration == pytest.approx(40.0)
    rendition = next(r for r in done.renditions if r.name == "480p")
    # 1000 B/s of video and 100 B/s of audio: 8800 b/s on average over the whole video.
    assert rendition.average_bandwidth == 8800
    assert rendition.codecs == "avc1.640028,mp4a.40.2"


def test_a_later_attempt_of_the_audio_is_listed_only_once_it_has_gone_as_far() -> None:
    plan = _plan()
    earlier = _output(plan, "audio", attempt=1, segments=4)
    assert not replaces(_output(plan, "audio", attempt=2, segments=3), earlier)
    assert replaces(_output(plan, "audio", attempt=2, segments=4), earlier)
    assert replaces(_output(plan, "audio", attempt=2), earlier)


def test_the_video_status_follows_its_assembly() -> None:
    plan = _plan()
    assert progress_of(assemble(plan, {}), 40.0).video_status is VideoStatus.PROCESSING
    some = {"c0t1": _output(plan, "c0t1"), "audio": _output(plan, "audio", segments=1)}
    playable = progress_of(assemble(plan, some), 40.0)
    assert playable.video_status is VideoStatus.PLAYABLE
    assert playable.transition is None
    assert playable.reason == "playable at 480p, 240p; 1080p, 720p to come"
    every = {p.key: _output(plan, p.key) for p in plan.parts}
    ready = progress_of(assemble(plan, every), 40.0)
    assert ready.video_status is VideoStatus.READY
    assert ready.transition is Transition.ASSEMBLE


def test_each_rung_has_an_i_frame_playlist_of_its_chunks_first_frames() -> None:
    plan = _plan()
    keys = ("c0t1", "c1t1", "c2t1", "audio", "c0t2", "c1t2", "c2t2")
    done = assemble(plan, {k: _output(plan, k, iframes=True) for k in keys})
    assert iframe_playlist_problems(done.playlists["master.m3u8"], done.playlists) == []
    text = done.playlists["480p/iframes.m3u8"]
    assert text.splitlines()[6:14] == [
        "#EXT-X-I-FRAMES-ONLY",
        '#EXT-X-MAP:URI="c0a1/init.mp4"',
        "#EXTINF:6.000000,",
        "#EXT-X-BYTERANGE:600@100",
        "c0a1/seg_00000.m4s",
        "#EXTINF:6.000000,",
        "#EXT-X-BYTERANGE:600@100",
        "c1a1/seg_00001.m4s",
    ]
    assert text.count("#EXT-X-BYTERANGE:") == 7
    assert text.endswith("#EXT-X-ENDLIST\n")
    trick = [line for line in done.playlists["master.m3u8"].splitlines() if "I-FRAME" in line]
    # 600 bytes an I-frame: once every 6 s on average over 40 s, but the last segment's
    # comes 4 s after the one before, the peak rate (1200 b/s).
    assert trick[0] == (
        "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1200,AVERAGE-BANDWIDTH=840,"
        'CODECS="avc1.640028",RESOLUTION=1920x1080,URI="1080p/iframes.m3u8"'
    )
    assert [attributes(line)["URI"].split("/")[0] for line in trick] == [
        "1080p",
        "720p",
        "480p",
        "240p",
    ]


def test_a_growing_rung_has_a_growing_i_frame_playlist() -> None:
    plan = _plan()
    outputs = {k: _output(plan, k, iframes=True) for k in ("c0t1", "audio")}
    text = assemble(plan, outputs).playlists["480p/iframes.m3u8"]
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text
    assert "#EXT-X-ENDLIST" not in text


def test_a_rung_published_without_first_frames_has_no_i_frame_playlist() -> None:
    """What older versions published says nothing of the segments' first frames: such a
    rung still plays, without trick play."""
    plan = _plan()
    outputs = {k: _output(plan, k, iframes=True) for k in ("c0t1", "audio", "c1t1")}
    older = PartOutput.to_json(_output(plan, "c2t1"))
    for rung in older["rungs"]:
        del rung["iframes"]
    outputs["c2t1"] = PartOutput.from_json(json.loads(json.dumps(older)))
    assembly = assemble(plan, outputs)
    assert "480p/index.m3u8" in assembly.playlists
    assert "480p/iframes.m3u8" not in assembly.playlists
    assert "I-FRAME" not in assembly.playlists["master.m3u8"]


def test_first_frames_survive_the_database() -> None:
    plan = _plan()
    output = _output(plan, "c1t1", iframes=True)
    assert PartOutput.from_json(json.loads(json.dumps(output.to_json()))) == output
    assert output.rungs[0].iframes == ((100, 600), (100, 600))


def test_rungs_above_1080p_are_a_later_tier_even_for_a_short_video() -> None:
    uhd = dataclasses.replace(
        SOURCE_40S, duration=10.0, width=3840, height=2160, display_width=3840, display_height=2160
    )
    rungs = plan_ladder(uhd, max_rung=2160)
    at_1080 = plan_ladder(uhd)
    # Up to 1080p, a short video is one piece.
    assert plan_video(uhd, at_1080, Fraction(30), single_below=30, first_tier_height=480) is None
    short = dataclasses.replace(uhd, duration=20.0)
    plan = plan_video(short, rungs, Fraction(30), single_below=30, first_tier_height=480)
    assert plan is not None
    # One chunk: everything up to 1080p from one decode, then 1440p and 2160p.
    assert plan.tiers == (("1080p", "720p", "480p", "240p"), ("2160p", "1440p"))
    late = [p for p in plan.parts if p.tier == 2]
    assert all(p.rank > q.rank for p in late for q in plan.parts if q.tier == 1)
    longer = dataclasses.replace(uhd, duration=200.0)
    plan = plan_video(longer, rungs, Fraction(30), single_below=30, first_tier_height=480)
    assert plan is not None
    assert plan.tiers == (("480p", "240p"), ("1080p", "720p"), ("2160p", "1440p"))
    by_tier = {t: [p.rank for p in plan.parts if p.tier == t] for t in (1, 2, 3)}
    assert max(by_tier[1]) < min(by_tier[2])
    assert max(by_tier[2]) < min(by_tier[3])
