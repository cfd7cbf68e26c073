"""Reading back what a ladder's rung plays: its stream's timestamps."""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av


@dataclass(frozen=True)
class Timestamps:
    """A stream's decode times, presentation times (sorted) and keyframes' presentation
    times, in ``time_base`` units."""

    dts: list[int]
    pts: list[int]
    keyframes: list[int]
    time_base: Fraction
    duration: int  # the last packet's duration


def timestamps(stream: bytes, kind: str = "video") -> Timestamps:
    with av.open(io.BytesIO(stream), mode="r") as container:
        chosen = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        packets = [p for p in container.demux(chosen) if p.pts is not None and p.dts is not None]
        time_base = Fraction(chosen.time_base or 1)
    return Timestamps(
        dts=[p.dts for p in packets if p.dts is not None],
        pts=sorted(p.pts for p in packets if p.pts is not None),
        keyframes=[p.pts for p in packets if p.is_keyframe and p.pts is not None],
        time_base=time_base,
        duration=packets[-1].duration or 0,
    )
