"""What an upload may make the platform do: the limits on a source, checked by the probe
before any encode, and the verdicts on what a source really holds. Pure, no I/O.

Every limit is about what the file holds, not what its header claims: a header can
declare ten hours over a few kilobytes. The probe reads every packet's timestamp (it
demuxes, it never decodes past the first seconds), so the work an encode is given is
bounded by the pictures and sound that are really there.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from vodstack.domain.grid import KEYFRAME_SECONDS
from vodstack.domain.media import Gap

# Longer than this without a new picture is a still: it is encoded as one frame per
# keyframe interval (enough for every segment to start on a keyframe), not filled with
# duplicates at the full rate.
STILL_SECONDS = float(KEYFRAME_SECONDS)
# The longest stills a filter graph thins; shorter ones beyond these are filled at the full
# rate, which costs no more than real video of that length would.
MAX_THINNED_STILLS = 100
UHD_8K_PIXELS = 7680 * 4320


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """The budgets of one source; each is refused at once, with its reason."""

    max_frame_pixels: int = UHD_8K_PIXELS
    max_duration: float = 12 * 3600.0
    max_streams: int = 32
    max_still: float = 300.0  # the longest stretch with no new picture, or no sound
    # Less than this share of the declared duration decodable: the file is refused;
    # more, but not all of it: published, with a warning.
    min_decoded_fraction: float = 0.5

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MediaLimits:
        return cls(**data)


def too_many_streams(count: int, limits: MediaLimits) -> str | None:
    if count <= limits.max_streams:
        return None
    return f"the file has {count} streams; at most {limits.max_streams} are accepted"


def frame_too_large(width: int, height: int, limits: MediaLimits) -> str | None:
    if width * height <= limits.max_frame_pixels:
        return None
    return (
        f"the picture is too large: {width}x{height} is {width * height / 1e6:.1f} megapixels, "
        f"and at most {limits.max_frame_pixels / 1e6:.1f} are accepted"
        + (" (8K UHD)" if limits.max_frame_pixels == UHD_8K_PIXELS else "")
    )


def too_long(seconds: float, limits: MediaLimits) -> str | None:
    if seconds <= limits.max_duration:
        return None
    return (
        f"the video is too long: {span(seconds)}, and at most {span(limits.max_duration)} "
        "is accepted"
    )


def still_too_long(gap: Gap | None, what: str, limits: MediaLimits) -> str | None:
    """``what``: "no new picture" or "no sound"."""
    if gap is None or gap.length <= limits.max_still:
        return None
    return (
        f"the file has {what} for {span(gap.length)}, from {span(gap.start)} on; "
        f"at most {span(limits.max_still)} is accepted"
    )


def decoded_too_little(declared: float, held: float, limits: MediaLimits) -> str | None:
    if declared <= 0 or held >= declared * limits.min_decoded_fraction:
        return None
    return (
        f"the file is truncated: only {span(held)} of {span(declared)} could be decoded, "
        f"less than {limits.min_decoded_fraction:.0%} of it"
    )


def truncated(declared: float | None, held: float) -> bool:
    """Whether a file ends before its header says it does, by more than a frame or two
    (and more than the rounding of a header's duration)."""
    return declared is not None and declared - held > max(0.25, 0.02 * declared)


def truncation_warning(declared: float | None, held: float) -> str | None:
    if declared is None or not truncated(declared, held):
        return None
    return f"the file is truncated: {span(held)} of {span(declared)} could be decoded"


def thinned(gaps: list[Gap]) -> tuple[Gap, ...]:
    """The stills an encode thins: the longest, in the order they come."""
    longest = sorted(gaps, key=lambda g: -g.length)[:MAX_THINNED_STILLS]
    return tuple(sorted(longest, key=lambda g: g.start))


def span(seconds: float) -> str:
    """A length for people: "0.9 s", "45 s", "5 min", "10 h 2 min"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = math.floor(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
