"""Capped quality-targeted rate control: the caps fitted to what the analysis measured."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from tests.unit.test_ladder import source
from vodstack.domain.ladder import plan_ladder
from vodstack.domain.ratecontrol import (
    MAX_WINDOWS,
    Complexity,
    analysis_windows,
    bits_per_pixel,
    predicted_bitrate,
)

EASY = Complexity(426, 240, (0.02, 0.03))  # a screen recording: a few bits a pixel
HARD = Complexity(426, 240, (0.40, 0.50))  # grass, water, confetti


def test_an_easy_source_gets_a_lower_cap_and_a_hard_one_keeps_the_fixed_cap() -> None:
    info = source(1920, 1080)
    fixed = plan_ladder(info)
    easy = plan_ladder(info, complexity=EASY)
    hard = plan_ladder(info, complexity=HARD)
    for fixed_rung, easy_rung, hard_rung in zip(fixed, easy, hard, strict=True):
        assert easy_rung.crf == hard_rung.crf == fixed_rung.crf
        assert hard_rung.maxrate == fixed_rung.maxrate
        assert easy_rung.maxrate < fixed_rung.maxrate
        # Never starved: a scene the windows missed still has bits.
        assert easy_rung.maxrate >= fixed_rung.maxrate * 3 // 10
        # The buffer is two seconds at the cap.
        assert easy_rung.bufsize == 2 * easy_rung.maxrate


def test_the_cap_stays_within_twice_the_predicted_average() -> None:
    info = source(1920, 1080)
    middling = Complexity(426, 240, (0.04, 0.06))
    for rung in plan_ladder(info, complexity=middling):
        predicted = predicted_bitrate(middling, rung, Fraction(30))
        cap = rung.video_bitrate * 11 // 10
        assert rung.maxrate == max(math.ceil(cap * 3 / 10), min(cap, math.ceil(predicted * 1.7)))
        assert rung.maxrate < 2 * predicted


def test_prediction_grows_with_pixels_slower_than_linearly_and_halves_every_6_crf() -> None:
    small, large = plan_ladder(source(1920, 1080))[-1], plan_ladder(source(1920, 1080))[0]
    complexity = Complexity(small.width, small.height, (0.1,))
    at_small = predicted_bitrate(complexity, small, Fraction(30))
    assert at_small == pytest.approx(0.1 * small.width * small.height * 30 * 2 ** (1 / 6), rel=1e-3)
    ratio = predicted_bitrate(complexity, large, Fraction(30)) / at_small
    pixels = large.width * large.height / (small.width * small.height)
    assert 1 < ratio < pixels


def test_windows_are_spread_over_the_source_and_bounded() -> None:
    assert analysis_windows(0) == ()
    assert analysis_windows(17.9) == ()  # too short to be worth it
    (only,) = analysis_windows(20)
    assert (only.start, only.length) == (9.0, 2.0)
    windows = analysis_windows(600)
    assert len(windows) == MAX_WINDOWS
    assert windows[0].start > 0
    assert windows[-1].start + windows[-1].length < 600
    assert all(b.start - a.start == pytest.approx(75) for a, b in itertools.pairwise(windows))
    assert len(analysis_windows(60)) == 3


def test_bits_per_pixel() -> None:
    assert bits_per_pixel(1000, 10, 10, 8) == 10.0
    assert bits_per_pixel(1000, 0, 10, 8) == 0.0
