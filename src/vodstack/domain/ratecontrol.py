"""Content-aware rate control: how many bits each rung may spend, from a short analysis of
the source. Pure, no I/O.

Every rung is encoded at a constant rate factor (CRF: a constant quality, so an easy video
spends few bits) under a VBV cap. The cap is the fixed ladder's for a hard source, and lower
for an easy one: a player picks a rung by its declared peak, and Apple's HLS authoring
rules want that peak within twice the average. The average a rung will have at its CRF is
predicted from a few short windows of the source encoded at the smallest rung's size.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from vodstack.domain.media import Rung

# The rate factor the analysis encodes at; each rung's own is in ``ladder.STANDARD_RUNGS``.
ANALYSIS_CRF = 23
# Bits per pixel fall as the picture grows (more of it is smooth at a larger size):
# bitrate grows as pixels to this power at equal quality (x264, natural video).
PIXEL_EXPONENT = 0.75
# x264 halves the bitrate for every 6 steps of rate factor.
CRF_STEPS_PER_HALVING = 6
# The cap is this many times the predicted average (under Apple's 2x, with room for the
# prediction being a little high), and never below this share of the fixed cap, so that a
# scene the windows missed still gets bits.
PEAK_TO_AVERAGE = Fraction(17, 10)
LOWEST_CAP_SHARE = Fraction(3, 10)
# The VBV buffer holds two seconds at the cap: one keyframe interval.
BUFFER_SECONDS = 2
# Analysis windows: two seconds each (one keyframe interval, so each holds one I-frame as
# the encode does), spread evenly over the source, one per this many seconds.
WINDOW_SECONDS = 2.0
SECONDS_PER_WINDOW = 20.0
MAX_WINDOWS = 8
# A video this short is not analysed: three segments hold too few peaks to tame, and on a
# clip of a few seconds the analysis would be a large share of the encode.
ANALYSED_FROM_SECONDS = 18.0


@dataclass(frozen=True, slots=True)
class Window:
    """A span of the source the analysis encodes, in seconds."""

    start: float
    length: float


@dataclass(frozen=True, slots=True)
class Complexity:
    """What the analysis measured: for each window, its bits per pixel per frame at
    ``ANALYSIS_CRF`` and the reference size."""

    width: int
    height: int
    bits_per_pixel: tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.bits_per_pixel) / len(self.bits_per_pixel) if self.bits_per_pixel else 0


def analysis_windows(duration: float) -> tuple[Window, ...]:
    """Where the analysis looks: windows centred in equal stretches of the source; none
    for a short one."""
    if duration < ANALYSED_FROM_SECONDS:
        return ()
    count = max(1, min(MAX_WINDOWS, round(duration / SECONDS_PER_WINDOW)))
    length = min(WINDOW_SECONDS, duration)
    stretch = duration / count
    starts = (
        max(0.0, min(duration - length, (i + 0.5) * stretch - length / 2)) for i in range(count)
    )
    return tuple(Window(round(s, 3), length) for s in starts)


def bits_per_pixel(size_bytes: int, frames: int, width: int, height: int) -> float:
    pixels = frames * width * height
    return 8 * size_bytes / pixels if pixels > 0 else 0.0


def predicted_bitrate(complexity: Complexity, rung: Rung, frame_rate: Fraction) -> int:
    """The average bitrate ``rung`` is expected to have at its own CRF."""
    crf = ANALYSIS_CRF if rung.crf is None else rung.crf
    reference = complexity.width * complexity.height
    pixels = rung.width * rung.height
    bits_per_frame = complexity.mean * reference * math.pow(pixels / reference, PIXEL_EXPONENT)
    quality = math.pow(2, (ANALYSIS_CRF - crf) / CRF_STEPS_PER_HALVING)
    return round(bits_per_frame * float(frame_rate) * quality)


def capped_quality(
    rungs: Sequence[Rung], complexity: Complexity | None, frame_rate: Fraction
) -> list[Rung]:
    """``rungs`` (each with its CRF and the fixed ladder's cap) with the cap lowered to
    what the source needs; without an analysis, the fixed caps stay."""
    if complexity is None or not complexity.bits_per_pixel:
        return list(rungs)
    capped = []
    for rung in rungs:
        predicted = predicted_bitrate(complexity, rung, frame_rate)
        floor = math.ceil(rung.maxrate * LOWEST_CAP_SHARE)
        maxrate = max(floor, min(rung.maxrate, math.ceil(predicted * PEAK_TO_AVERAGE)))
        capped.append(dataclasses.replace(rung, maxrate=maxrate, bufsize=maxrate * BUFFER_SECONDS))
    return capped
