"""The limits on what an upload may make the platform do, and the words of each refusal."""

from __future__ import annotations

import pytest

from vodstack.domain import budgets
from vodstack.domain.budgets import MediaLimits
from vodstack.domain.media import Gap

LIMITS = MediaLimits()


def test_a_picture_up_to_8k_uhd_is_accepted_and_a_larger_one_refused() -> None:
    assert budgets.frame_too_large(7680, 4320, LIMITS) is None
    assert budgets.frame_too_large(8192, 8192, LIMITS) == (
        "the picture is too large: 8192x8192 is 67.1 megapixels, and at most 33.2 are "
        "accepted (8K UHD)"
    )
    assert budgets.frame_too_large(1920, 1080, MediaLimits(max_frame_pixels=1280 * 720)) == (
        "the picture is too large: 1920x1080 is 2.1 megapixels, and at most 0.9 are accepted"
    )


def test_streams_and_duration() -> None:
    assert budgets.too_many_streams(32, LIMITS) is None
    assert (
        budgets.too_many_streams(64, LIMITS) == "the file has 64 streams; at most 32 are accepted"
    )
    assert budgets.too_long(12 * 3600, LIMITS) is None
    assert budgets.too_long(13 * 3600 + 60, LIMITS) == (
        "the video is too long: 13 h 1 min, and at most 12 h 0 min is accepted"
    )


def test_a_still_longer_than_the_limit_is_refused_with_where_it_starts() -> None:
    assert budgets.still_too_long(None, "no new picture", LIMITS) is None
    assert budgets.still_too_long(Gap(0.9, 300.9), "no new picture", LIMITS) is None
    assert budgets.still_too_long(Gap(0.9, 36000.97), "no new picture", LIMITS) == (
        "the file has no new picture for 10 h 0 min, from 0.9 s on; at most 5 min is accepted"
    )
    assert "no sound for 20 min" in str(budgets.still_too_long(Gap(60, 1260), "no sound", LIMITS))


@pytest.mark.parametrize(
    ("declared", "held", "warning"),
    [
        (1.6, 0.87, "the file is truncated: 0.9 s of 1.6 s could be decoded"),
        (600.0, 420.0, "the file is truncated: 7 min of 10 min could be decoded"),
        (1.6, 1.6, None),
        (1.6, 1.45, None),  # a frame or two: a header's rounding
        (600.0, 590.0, None),  # within 2 %
        (None, 4.9, None),  # no duration in the header: nothing to fall short of
    ],
)
def test_truncation_warns_when_the_packets_end_well_before_the_header_says(
    declared: float | None, held: float, warning: str | None
) -> None:
    assert budgets.truncation_warning(declared, held) == warning
    assert budgets.truncated(declared, held) is (warning is not None)


def test_too_little_decodable_is_refused() -> None:
    assert budgets.decoded_too_little(1.6, 0.87, LIMITS) is None
    assert budgets.decoded_too_little(10.0, 4.0, LIMITS) == (
        "the file is truncated: only 4.0 s of 10 s could be decoded, less than 50% of it"
    )
    assert budgets.decoded_too_little(0.0, 0.0, LIMITS) is None


def test_only_the_longest_stills_are_thinned_in_the_order_they_come() -> None:
    gaps = [Gap(float(i * 10), float(i * 10) + 3 + i % 7) for i in range(150)]
    chosen = budgets.thinned(gaps)
    assert len(chosen) == budgets.MAX_THINNED_STILLS
    assert [g.start for g in chosen] == sorted(g.start for g in chosen)
    shortest_chosen = min(g.length for g in chosen)
    assert all(g.length <= shortest_chosen for g in gaps if g not in chosen)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.87, "0.9 s"), (45, "45 s"), (300, "5 min"), (36000, "10 h 0 min"), (7260, "2 h 1 min")],
)
def test_spans_read_as_people_say_them(seconds: float, words: str) -> None:
    assert budgets.span(seconds) == words


def test_limits_travel_to_the_probe_process_as_json() -> None:
    limits = MediaLimits(max_streams=4, max_still=60.0)
    assert MediaLimits.from_json(limits.to_json()) == limits
