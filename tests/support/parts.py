"""Split videos for the tests: a plan, and what its parts would publish."""

from __future__ import annotations

import dataclasses
import math

from vodstack.adapters.transcoder_fake import FAKE_SOURCE
from vodstack.domain.chunks import AUDIO, PartOutput, RungOutput, VideoPlan, part_folder, plan_video
from vodstack.domain.ladder import output_frame_rate, plan_ladder
from vodstack.domain.media import SourceInfo

# 40 s of 1080p: chunks of 6, 12 and 22 s, in two tiers, and the audio.
SOURCE_40S = dataclasses.replace(
    FAKE_SOURCE, duration=40.0, width=1920, height=1080, display_width=1920, display_height=1080
)


def split_plan(source: SourceInfo = SOURCE_40S, **policy: int | float) -> VideoPlan:
    plan = plan_video(source, plan_ladder(source), output_frame_rate(source), **policy)  # type: ignore[arg-type]
    assert plan is not None
    return plan


def part_output(
    plan: VideoPlan,
    key: str,
    attempt: int = 1,
    segments: int | None = None,
    *,
    iframes: bool = False,
) -> PartOutput:
    """What a part of ``plan`` publishes: 6 s segments numbered as in the whole rung, 1000
    bytes a second per rung (the audio: 100). ``segments``: only that many, still going.
    ``iframes``: each video segment's first frame is 600 bytes, 100 bytes in."""
    part = plan.part(key)
    first = round(part.start / 6)
    spans = [(n, min(6.0, part.end - n * 6)) for n in range(first, math.ceil(part.end / 6))]
    spans = spans[:segments] if segments is not None else spans
    rungs = tuple(
        RungOutput(
            rung=name,
            folder=part_folder(part, attempt),
            init="init.mp4",
            init_digest=f"digest of {name}",
            codecs="mp4a.40.2" if name == AUDIO else "avc1.640028",
            target_duration=6,
            segments=tuple(
                (f"seg_{n:05d}.m4s", s, round(s * (100 if name == AUDIO else 1000)))
                for n, s in spans
            ),
            iframes=((100, 600),) * len(spans) if iframes and name != AUDIO else (),
        )
        for name in part.rungs
    )
    return PartOutput(key, rungs, complete=segments is None, encoder="libx264")
