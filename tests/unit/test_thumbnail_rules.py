"""Which rendition and segment a thumbnail comes from, and which widths and times are asked
for."""

from __future__ import annotations

import pytest

from vodstack.domain.playlist import MediaPlaylist, MediaSegment
from vodstack.domain.thumbnails import (
    check_width,
    frame_source,
    rendition_for,
    rounded_time,
    thumbnail_key,
)

RENDITIONS = [
    {"name": "720p", "width": 1280, "height": 720, "playlist": "720p/index.m3u8"},
    {"name": "240p", "width": 426, "height": 240, "playlist": "240p/index.m3u8"},
    {"name": "480p", "width": 854, "height": 480, "playlist": "480p/index.m3u8"},
]
PLAYLIST = MediaPlaylist(
    6,
    (MediaSegment("seg_00000.m4s", 6.0), MediaSegment("seg_00001.m4s", 6.0)),
    "init.mp4",
    ended=True,
)


def test_the_smallest_rendition_as_wide_as_asked_for() -> None:
    assert rendition_for(RENDITIONS, 160)["name"] == "240p"
    assert rendition_for(RENDITIONS, 640)["name"] == "480p"
    assert rendition_for(RENDITIONS, 1280)["name"] == "720p"


def test_wider_than_every_rendition_is_the_widest() -> None:
    small = [{"name": "144p", "width": 256, "height": 144, "playlist": "144p/index.m3u8"}]
    assert rendition_for(small, 1280)["name"] == "144p"
    with pytest.raises(ValueError, match="no renditions"):
        rendition_for([], 320)


def test_only_the_fixed_widths() -> None:
    assert check_width(320) == 320
    with pytest.raises(ValueError, match="160, 320, 640, 1280"):
        check_width(333)


def test_the_segment_that_holds_the_time() -> None:
    assert frame_source(PLAYLIST, "720p", 0.0).segment == "720p/seg_00000.m4s"
    found = frame_source(PLAYLIST, "720p", 7.5)
    assert (found.init, found.segment, found.offset) == ("720p/init.mp4", "720p/seg_00001.m4s", 1.5)
    # On a boundary, the segment that starts there.
    assert frame_source(PLAYLIST, "720p", 6.0).segment == "720p/seg_00001.m4s"


def test_past_the_last_segment_is_its_last_frame() -> None:
    found = frame_source(PLAYLIST, "720p", 30.0)
    assert found.segment == "720p/seg_00001.m4s"
    assert 5.9 < found.offset < 6.0


def test_times_are_rounded_and_kept_inside_the_video() -> None:
    assert rounded_time(1.23456, 10.0) == 1.2
    assert rounded_time(0.0, None) == 0.0
    for wrong in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="0 or more"):
            rounded_time(wrong, 10.0)
    with pytest.raises(ValueError, match="past the end"):
        rounded_time(10.0, 10.0)


def test_each_width_and_time_is_kept_apart_under_the_epoch() -> None:
    assert thumbnail_key("outputs/v/e2", 320, 1.2) == "outputs/v/e2/thumbnails/w320/t1200.jpg"
    assert thumbnail_key("outputs/v/e2", 640, 1.2) != thumbnail_key("outputs/v/e2", 320, 1.2)
