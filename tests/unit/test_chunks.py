"""Chunk plans and stitched playlists, by table and golden text."""

from __future__ import annotations

import itertools

import pytest

from vodstack.domain.chunks import Chunk, plan_chunks, stitch
from vodstack.domain.playlist import MediaPlaylist, MediaSegment, parse_media_playlist


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


def test_a_short_source_keeps_one_chunk() -> None:
    assert plan_chunks(90.0, single_below=120) == (Chunk(0, 0.0, 90.0),)
    assert len(plan_chunks(130.0, single_below=120)) > 1


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"first": 5}, "whole number"),
        ({"longest": 0}, "whole number"),
        ({"first": 12, "longest": 6}, "cannot be shorter"),
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
