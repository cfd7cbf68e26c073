"""The quality receipt's pure parts: where frames are sampled, and the rules a rung keeps."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import pytest

from vodstack.domain.quality import (
    MAX_WINDOWS,
    MIN_WINDOW_FRAMES,
    WINDOW_FRAMES,
    Declared,
    RungMeasure,
    Samples,
    judge,
    nominal_start,
    part_problems,
    plan_samples,
    reference_offsets,
    reference_select,
    segment_starts,
)

FULL = ((6.0, 750_000), (6.0, 750_000), (3.0, 300_000))  # 1 Mbit/s, then 0.8


def measure(rung: str = "720p", **changes: Any) -> RungMeasure:
    honest = RungMeasure(rung, FULL, True, (90.0, 92.0), (40.0, 42.0))
    return dataclasses.replace(honest, **changes)


def declared(rung: str = "720p", bandwidth: int = 1_000_000, average: int = 960_000) -> Declared:
    return Declared(rung, 1280, 720, bandwidth, average, 22, 3_080_000)


def test_an_honest_rung_passes_with_its_figures() -> None:
    (receipt,) = judge([measure()], [declared()], 40)
    assert receipt.published
    assert receipt.problems == ()
    assert (receipt.vmaf, receipt.vmaf_min, receipt.psnr, receipt.frames) == (91.0, 90.0, 41.0, 2)
    # The short last segment is left out of the peak, as Apple measures it.
    assert (receipt.peak_bitrate, receipt.average_bitrate) == (1_000_000, 960_000)
    assert receipt.peak_to_average == pytest.approx(1.042, abs=1e-3)
    assert receipt.idr_aligned
    assert (receipt.segments, receipt.longest_segment) == (3, 6.0)


@pytest.mark.parametrize(
    ("changes", "claim", "rule"),
    [
        ({"vmaf": (20.0, 30.0)}, declared(), "VMAF 25.0 on sampled frames is below the floor"),
        ({"segments": ((6.0, 1), (8.2, 1))}, declared(), "segment 1 lasts 8.200 s, over the 6 s"),
        ({"keyframe_starts": False}, declared(), "does not begin with a keyframe"),
        ({}, declared(bandwidth=700_000), "declares a peak of 700000 bit/s where a segment"),
        ({}, declared(average=500_000), "declares an average of 500000 bit/s"),
    ],
)
def test_a_rung_that_breaks_a_rule_is_refused_with_the_rule(
    changes: dict[str, Any], claim: Declared, rule: str
) -> None:
    (receipt,) = judge([measure(**changes)], [claim], 40)
    assert not receipt.published
    assert any(rule in problem for problem in receipt.problems), receipt.problems


def test_rungs_whose_segments_begin_elsewhere_are_not_aligned() -> None:
    top = measure("1080p")
    shifted = measure("720p", segments=((6.2, 750_000), (5.8, 750_000), (3.0, 300_000)))
    fewer = measure("480p", segments=((12.0, 1_500_000), (3.0, 300_000)))
    claims = [declared("1080p"), declared("720p"), declared("480p", average=1_040_000)]
    receipts = judge([top, shifted, fewer], claims, 40)
    assert [r.idr_aligned for r in receipts] == [True, False, False]
    assert (
        "segment 1 begins at 6.200 s where the other rungs' begins at 6.000 s"
        in (receipts[1].problems[0])
    )
    assert "it has 2 segments where the other rungs have 3" in receipts[2].problems[0]
    # A top rung that went wrong is the one not aligned, not the rungs that agree.
    wrong_top = judge([shifted, top, measure("480p")], [*claims[:2], declared("480p")], 40)
    assert [r.idr_aligned for r in wrong_top] == [False, True, True]
    assert part_problems([top, shifted], 40) is not None
    assert part_problems([top, measure("720p")], 40) is None


def test_a_peak_over_twice_the_average_is_noted_not_refused() -> None:
    bursty = ((6.0, 100_000), (6.0, 100_000), (6.0, 1_000_000))
    claim = declared(bandwidth=1_333_334, average=533_334)
    (receipt,) = judge([measure(segments=bursty)], [claim], 40)
    assert receipt.published
    assert receipt.notes == ("its peak is 2.50x its average, over Apple's 2x",)


def test_the_audio_of_a_chunked_video_counts_in_what_is_measured() -> None:
    claim = declared(bandwidth=1_128_000, average=1_088_000)
    (receipt,) = judge([measure()], [claim], 40, audio=(128_000, 128_000))
    assert receipt.published
    assert receipt.peak_bitrate == 1_128_000


def test_no_sampled_frames_means_no_vmaf_and_no_floor() -> None:
    (receipt,) = judge([measure(vmaf=(), psnr=())], [declared()], 99)
    assert receipt.published
    assert (receipt.vmaf, receipt.psnr, receipt.frames) == (None, None, 0)


def test_samples_spread_over_whole_segments_and_bounded() -> None:
    assert plan_samples(10, Fraction(25), stills=True) is None
    assert plan_samples(0.1, Fraction(25), stills=False) is None  # 2 frames: too few
    short = plan_samples(10, Fraction(25), stills=False)
    assert short == Samples((0,), 5)  # 2 % of 250 frames
    tiny = plan_samples(2, Fraction(50), stills=False)
    assert tiny == Samples((0,), MIN_WINDOW_FRAMES)
    film = plan_samples(3600, Fraction(24), stills=False)
    assert film is not None
    assert len(film.segments) == MAX_WINDOWS
    assert film.frames == WINDOW_FRAMES
    assert film.segments[0] > 0
    assert film.segments[-1] < 600
    assert list(film.segments) == sorted(set(film.segments))


def test_reference_frames_are_picked_by_number_around_each_window() -> None:
    samples = Samples((0, 2), 4)
    ntsc = Fraction(30000, 1001)
    assert nominal_start(2, ntsc) == 360  # 12 s at 29.97 is frame 359.64: the next one
    assert reference_select(samples, ntsc) == ("select='between(n\\,0\\,5)+between(n\\,359\\,364)'")
    starts = segment_starts([6.006, 6.006, 3.0], ntsc)
    assert starts == {0: 0, 1: 180, 2: 360}
    # Window 0 is frames 0-5 of the reference, window 1 frames 6-11, from frame 359.
    assert reference_offsets(samples, ntsc, starts) == [0, 6 + 1]
    with pytest.raises(ValueError, match="off the 2 s grid"):
        reference_offsets(samples, ntsc, {0: 0, 2: 370})
