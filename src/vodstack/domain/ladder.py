"""Ladder planning: which renditions a source gets, at what size, bitrate and frame rate.

Pure, no I/O. Sizes are what a viewer sees (after the sample aspect ratio and the rotation),
so a rung is named by its short side: a portrait 1080x1920 video gets "1080p" too.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from vodstack.domain.media import Rung, SourceInfo
from vodstack.domain.ratecontrol import Complexity, capped_quality


class RateControl(StrEnum):
    QUALITY = "quality"  # capped CRF: a constant quality, under a cap fitted to the source
    FIXED = "fixed"  # each rung at its fixed bitrate, whatever the content


@dataclass(frozen=True, slots=True)
class StandardRung:
    short_side: int
    video_bitrate: int  # the fixed ladder's target; its cap is the quality ladder's too
    crf: int  # the quality ladder's rate factor


# The ladder of the original system, highest first, with the two rungs above 1080p that
# phones and cameras record (Apple's HLS authoring spec puts H.264 2160p at 11.6 to 16.8
# Mbps); those two are only planned when VODSTACK_MAX_RUNG allows them.
# The rate factor rises with the rung: a larger picture is seen at the same screen size, so
# its artefacts are smaller, and it holds most of a ladder's bytes; the smallest rungs, for
# the worst links, cost little more at a lower one. Chosen with bench/quality: about a
# third fewer bytes than the fixed ladder on its median source, at a VMAF 0.3 lower (mean
# over rungs); the two rungs above 1080p keep one step above it.
STANDARD_RUNGS = (
    StandardRung(2160, 16_000_000, 27),
    StandardRung(1440, 9_000_000, 27),
    StandardRung(1080, 5_000_000, 26),
    StandardRung(720, 2_800_000, 25),
    StandardRung(480, 1_400_000, 24),
    StandardRung(240, 400_000, 22),
)
MAX_RUNGS = tuple(r.short_side for r in STANDARD_RUNGS)
DEFAULT_MAX_RUNG = 1080
# Rungs above this are encoded as a later tier: they never delay the first playable moment.
LATE_RUNG_ABOVE = 1080
AUDIO_BITRATE = 128_000
# Viewers on the smallest rung are on the worst links; stereo AAC-LC is still clean at 64k.
LOW_AUDIO_BITRATE = 64_000
LOW_AUDIO_MAX_SHORT_SIDE = 240
# A source between two standard rungs also gets a rung at its own size when it is clearly
# larger than the largest standard rung it reaches; otherwise an 800x332 film would top out
# at 240p and throw away most of its detail.
OWN_SIZE_MARGIN = Fraction(11, 10)
MIN_VIDEO_BITRATE = 100_000
# Capped VBR: maxrate at 1.1x the target keeps the peak a player sees close to the rate it
# chose the rung for (Apple's HLS authoring spec wants peaks near the advertised rate), and a
# buffer of 2x the target is two seconds of video, one keyframe interval, so the rate control
# can spend extra bits on each keyframe and on hard scenes without breaking the cap.
MAXRATE_FACTOR = Fraction(11, 10)
BUFSIZE_FACTOR = 2
MAX_FRAME_RATE = 60
# Rates this close above the cap (a phone's 60.06 fps) are the cap, not a reason to halve.
FRAME_RATE_SLACK = Fraction(1, 20)


def display_size(
    width: int, height: int, sample_aspect_ratio: tuple[int, int], rotation: int
) -> tuple[int, int]:
    """What a viewer sees: the sample aspect ratio stretches the width (as ffmpeg does),
    then a quarter-turn rotation swaps the sides."""
    display_width = max(1, round(width * _sar(sample_aspect_ratio)))
    if rotation % 180 == 90:
        return height, display_width
    return display_width, height


def display_aspect(source: SourceInfo) -> Fraction:
    """Width over height as displayed, exact (not rounded through the display size)."""
    aspect = Fraction(source.width, source.height) * _sar(source.sample_aspect_ratio)
    return 1 / aspect if source.rotation % 180 == 90 else aspect


def plan_ladder(
    source: SourceInfo,
    *,
    max_rung: int = DEFAULT_MAX_RUNG,
    rate_control: RateControl = RateControl.QUALITY,
    complexity: Complexity | None = None,
) -> list[Rung]:
    """The rungs for ``source``, highest first. Never upscales; sources above ``max_rung``
    top out there; a source whose short side is under 240 gets one rung at its own size.
    With quality rate control each rung has its CRF, and its cap is fitted to what the
    analysis (``complexity``) found; without one, the fixed ladder's caps stay."""
    if max_rung not in MAX_RUNGS:
        raise ValueError(f"max_rung must be one of {', '.join(map(str, MAX_RUNGS))}")
    standard = [r for r in STANDARD_RUNGS if r.short_side <= max_rung]
    aspect = display_aspect(source)
    short = min(source.display_width, source.display_height)
    fitting = [r for r in standard if r.short_side <= short]
    if not fitting:
        own = _floor_even(short)
        rungs = [_rung(f"{own}p", own, aspect, *_scaled(own))]
    else:
        rungs = [
            _rung(f"{r.short_side}p", r.short_side, aspect, r.video_bitrate, r.crf) for r in fitting
        ]
        largest = fitting[0].short_side
        if largest < standard[0].short_side and short > largest * OWN_SIZE_MARGIN:
            own = _floor_even(short)
            rungs.insert(0, _rung(f"{own}p", own, aspect, *_scaled(own)))
    if rate_control is RateControl.FIXED:
        return [dataclasses.replace(r, crf=None) for r in rungs]
    return capped_quality(rungs, complexity, output_frame_rate(source))


def output_frame_rate(source: SourceInfo) -> Fraction:
    """The constant frame rate every rung is encoded at: the source's nominal rate, or an
    integer fraction of it above 60 fps (120 -> 60, 100 -> 50) so motion stays even."""
    rate = Fraction(source.frame_rate).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, got {source.frame_rate}")
    divisor = max(1, math.ceil(rate / MAX_FRAME_RATE - FRAME_RATE_SLACK))
    return min(rate / divisor, Fraction(MAX_FRAME_RATE))


def _rung(name: str, short_side: int, aspect: Fraction, video_bitrate: int, crf: int) -> Rung:
    if aspect >= 1:
        width, height = _round_even(short_side * aspect), short_side
    else:
        width, height = short_side, _round_even(short_side / aspect)
    audio = AUDIO_BITRATE if short_side > LOW_AUDIO_MAX_SHORT_SIDE else LOW_AUDIO_BITRATE
    return Rung(
        name=name,
        width=width,
        height=height,
        video_bitrate=video_bitrate,
        maxrate=int(video_bitrate * MAXRATE_FACTOR),
        bufsize=video_bitrate * BUFSIZE_FACTOR,
        audio_bitrate=audio,
        crf=crf,
    )


def _scaled(short_side: int) -> tuple[int, int]:
    """Bitrate and CRF for a non-standard size: the nearest standard rung's (by ratio), the
    bitrate scaled by pixel count, which at equal aspect is the square of the short sides'
    ratio."""
    nearest = min(STANDARD_RUNGS, key=lambda r: abs(math.log(short_side / r.short_side)))
    bitrate = nearest.video_bitrate * (short_side / nearest.short_side) ** 2
    return max(MIN_VIDEO_BITRATE, round(bitrate / 1000) * 1000), nearest.crf


def _sar(sample_aspect_ratio: tuple[int, int]) -> Fraction:
    num, den = sample_aspect_ratio
    return Fraction(num, den) if num > 0 and den > 0 else Fraction(1)


def _round_even(value: Fraction | float) -> int:
    """H.264 4:2:0 needs even sides; round half up so 426.67 -> 426 and 853.33 -> 854."""
    return max(2, 2 * math.floor(value / 2 + Fraction(1, 2)))


def _floor_even(value: int) -> int:
    return max(2, value - value % 2)


def describe_ladder(rungs: Sequence[Rung]) -> str:
    """The ladder in one line of the job's timeline: each rung's size and rate control."""

    def rate(rung: Rung) -> str:
        cap = f"{rung.maxrate / 1e6:.2f} Mbps"
        if rung.crf is None:
            return f"{rung.video_bitrate / 1e6:.2f} Mbps (cap {cap})"
        return f"CRF {rung.crf} under {cap}"

    return "; ".join(f"{r.name} {r.width}x{r.height} {rate(r)}" for r in rungs)
