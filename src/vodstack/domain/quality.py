"""The quality receipt: what each rung of a published video measured, and the rules a rung
must keep to be published. Pure, no I/O.

Quality is measured on sampled frames, never the whole video: a few short windows, each the
first frames of a segment. While the encode runs, each rung's branch of the filter graph
also keeps its frames around those windows, losslessly (``reference_select``): they are
exactly what the encoder was given, the source at that rung's size. After the encode, each
window's segment is decoded from its keyframe and compared with them (VMAF and PSNR). The
encode decodes the source once, and the measurement decodes only the sampled segments'
first frames, so the receipt costs a small share of the encode.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from vodstack.domain.grid import SEGMENT_SECONDS
from vodstack.domain.media import Rendition, Rung

# One window per this many seconds of video, at most ``MAX_WINDOWS``, of up to
# ``WINDOW_FRAMES`` frames, and no more than ``SAMPLED_SHARE`` of all the frames (but at
# least ``MIN_WINDOW_FRAMES``): VMAF costs about twice what x264's veryfast encode does per
# pixel, so this keeps the receipt under a tenth of the encode.
WINDOW_FRAMES = 8
MIN_WINDOW_FRAMES = 3
SAMPLED_SHARE = 0.02
SECONDS_PER_WINDOW = 30.0
MAX_WINDOWS = 12
# The reference keeps this many frames more on each side of a window: where a segment
# begins is known exactly only after the encode (from its playlist), to within a frame.
MARGIN_FRAMES = 1
# Apple's HLS authoring spec: the measured peak within 10 % of BANDWIDTH, the average
# within 10 % of AVERAGE-BANDWIDTH, and the peak no more than twice the average.
BANDWIDTH_TOLERANCE = 0.10
PEAK_TO_AVERAGE_LIMIT = 2.0
DEFAULT_MIN_VMAF = 40.0


@dataclass(frozen=True, slots=True)
class Samples:
    """Which segments' first frames are compared, on one encode's own timeline."""

    segments: tuple[int, ...]  # segment numbers, counted from the encode's first
    frames: int = WINDOW_FRAMES

    @property
    def kept(self) -> int:
        """Frames the reference keeps per window."""
        return self.frames + 2 * MARGIN_FRAMES


def plan_samples(duration: float, frame_rate: Fraction, stills: bool) -> Samples | None:
    """Windows spread over the encode's whole segments (the last one too when it is the
    only one); None where there is nothing to sample. A video with stills is not
    sampled: its thinned frames no longer follow the frame rate's clock."""
    if stills or duration <= 0:
        return None
    usable = max(1, int(duration // SEGMENT_SECONDS))
    count = max(1, min(MAX_WINDOWS, usable, round(duration / SECONDS_PER_WINDOW)))
    frames = min(WINDOW_FRAMES, round(duration * float(frame_rate) * SAMPLED_SHARE / count))
    frames = max(MIN_WINDOW_FRAMES, frames)
    if usable == 1 and duration * frame_rate < frames + 2 * MARGIN_FRAMES:
        return None
    stretch = usable / count
    return Samples(tuple(sorted({int((i + 0.5) * stretch) for i in range(count)})), frames)


def nominal_start(segment: int, frame_rate: Fraction) -> int:
    """The frame a segment is planned to begin at: the first at or after its 6 s mark."""
    return math.ceil(segment * SEGMENT_SECONDS * frame_rate)


def reference_select(samples: Samples, frame_rate: Fraction) -> str:
    """The ``select`` filter that keeps each window's frames, and a margin, by frame
    number: exact integers, whatever floating point makes of the timestamps."""
    spans = []
    for segment in samples.segments:
        first = max(0, nominal_start(segment, frame_rate) - MARGIN_FRAMES)
        spans.append(f"between(n\\,{first}\\,{first + samples.kept - 1})")
    return f"select='{'+'.join(spans)}'"


def reference_offsets(
    samples: Samples, frame_rate: Fraction, starts: Mapping[int, int]
) -> list[int]:
    """For each window, the frame in the kept reference where its segment truly begins,
    from ``starts`` (segment number to first frame, from the playlist's durations)."""
    offsets = []
    for index, segment in enumerate(samples.segments):
        first = max(0, nominal_start(segment, frame_rate) - MARGIN_FRAMES)
        shift = starts[segment] - first
        if not 0 <= shift <= samples.kept - samples.frames:
            raise ValueError(
                f"segment {segment} begins at frame {starts[segment]}, not near frame "
                f"{nominal_start(segment, frame_rate)}: its keyframe is off the 2 s grid"
            )
        offsets.append(index * samples.kept + shift)
    return offsets


def segment_starts(durations: Sequence[float], frame_rate: Fraction) -> dict[int, int]:
    """Each segment's first frame, from the durations a playlist lists."""
    starts, elapsed = {}, 0.0
    for number, duration in enumerate(durations):
        starts[number] = round(elapsed * frame_rate)
        elapsed += duration
    return starts


@dataclass(frozen=True, slots=True)
class RungMeasure:
    """What was measured of one rung of one encode (a whole video, or one chunk)."""

    rung: str
    segments: tuple[tuple[float, int], ...]  # (seconds, bytes) per segment
    keyframe_starts: bool  # every segment begins with a sync sample (an IDR)
    vmaf: tuple[float, ...] = ()  # per sampled frame
    psnr: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Declared:
    """What the master playlist says of a rung, and what it was planned as."""

    rung: str
    width: int
    height: int
    bandwidth: int
    average_bandwidth: int
    crf: int | None
    maxrate: int


def declare(rendition: Rendition, rung: Rung) -> Declared:
    return Declared(
        rendition.name,
        rendition.width,
        rendition.height,
        rendition.bandwidth,
        rendition.average_bandwidth,
        rung.crf,
        rung.maxrate,
    )


@dataclass(frozen=True, slots=True)
class RungReceipt:
    rung: str
    width: int
    height: int
    crf: int | None
    maxrate: int
    frames: int  # sampled frames compared
    vmaf: float | None
    vmaf_min: float | None
    psnr: float | None
    declared_bandwidth: int
    declared_average_bandwidth: int
    peak_bitrate: int
    average_bitrate: int
    peak_to_average: float
    segments: int
    longest_segment: float
    idr_aligned: bool
    problems: tuple[str, ...]  # the rules it breaks, in words: then it is not published
    notes: tuple[str, ...] = ()  # what a person may want to know, that is no reason to refuse

    @property
    def published(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Receipt:
    """Per rung, its quality and its honesty; and what made it."""

    rungs: tuple[RungReceipt, ...]
    ffmpeg_version: str
    command: str
    source_sha256: str | None
    encode_seconds: float
    measure_seconds: float
    min_vmaf: float

    @property
    def rejected(self) -> tuple[RungReceipt, ...]:
        return tuple(r for r in self.rungs if r.problems)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["rungs"] = [{**dataclasses.asdict(r), "published": r.published} for r in self.rungs]
        data["cost"] = (
            round(self.measure_seconds / self.encode_seconds, 4) if self.encode_seconds else None
        )
        return data


def judge(
    measures: Sequence[RungMeasure],
    declared: Sequence[Declared],
    min_vmaf: float,
    audio: tuple[int, int] | None = None,
) -> tuple[RungReceipt, ...]:
    """Each rung against the rules: segments no longer than the target, every segment
    beginning with an IDR at the same time in every rung, a declared bandwidth that is
    what the segments measure (with ``audio``'s peak and average added, where the audio
    is a rendition of its own), and a sampled VMAF at or above ``min_vmaf``."""
    by_name = {d.rung: d for d in declared}
    reference = _common_boundaries(measures)
    receipts = []
    for measure in measures:
        problems, aligned = encoding_problems(measure, reference, min_vmaf)
        notes: list[str] = []
        peak, average = segment_bitrates(measure.segments)
        if audio is not None:
            peak, average = peak + audio[0], average + audio[1]
        claim = by_name[measure.rung]
        _check_declared(claim, peak, average, problems)
        ratio = peak / average if average else 0.0
        if ratio > PEAK_TO_AVERAGE_LIMIT:
            notes.append(f"its peak is {ratio:.2f}x its average, over Apple's 2x")
        vmaf = _mean(measure.vmaf)
        receipts.append(
            RungReceipt(
                rung=measure.rung,
                width=claim.width,
                height=claim.height,
                crf=claim.crf,
                maxrate=claim.maxrate,
                frames=len(measure.vmaf),
                vmaf=None if vmaf is None else round(vmaf, 2),
                vmaf_min=round(min(measure.vmaf), 2) if measure.vmaf else None,
                psnr=None if not measure.psnr else round(_mean(measure.psnr) or 0.0, 2),
                declared_bandwidth=claim.bandwidth,
                declared_average_bandwidth=claim.average_bandwidth,
                peak_bitrate=peak,
                average_bitrate=average,
                peak_to_average=round(ratio, 3),
                segments=len(measure.segments),
                longest_segment=round(max((s for s, _ in measure.segments), default=0.0), 3),
                idr_aligned=aligned,
                problems=tuple(problems),
                notes=tuple(notes),
            )
        )
    return tuple(receipts)


def encoding_problems(
    measure: RungMeasure, reference: Sequence[float], min_vmaf: float
) -> tuple[list[str], bool]:
    """The rules of the encode itself, which a chunk is held to as well as a whole video:
    its segments, their keyframes, their alignment with ``reference`` (the other rungs'
    segment starts) and its sampled VMAF. Also whether it is aligned."""
    problems: list[str] = []
    aligned = measure.keyframe_starts and _aligned(measure, reference, problems)
    if not measure.keyframe_starts:
        problems.append("a segment does not begin with a keyframe (IDR)")
    _check_segments(measure, problems)
    vmaf = _mean(measure.vmaf)
    if vmaf is not None and vmaf < min_vmaf:
        problems.append(f"VMAF {vmaf:.1f} on sampled frames is below the floor of {min_vmaf:g}")
    return problems, aligned


def part_problems(measures: Sequence[RungMeasure], min_vmaf: float) -> str | None:
    """What is wrong with a chunk's encode, in words; None when nothing is."""
    reference = _common_boundaries(measures)
    found = []
    for measure in measures:
        problems, _ = encoding_problems(measure, reference, min_vmaf)
        if problems:
            found.append(f"{measure.rung}: {', '.join(problems)}")
    return "; ".join(found) or None


def _common_boundaries(measures: Sequence[RungMeasure]) -> list[float]:
    """The segment starts most rungs share (the top rung's on a tie): one rung that went
    wrong is the one told it is not aligned, not all the others."""
    found: list[tuple[float, ...]] = [
        tuple(round(b, 3) for b in _boundaries(m.segments)) for m in measures
    ]
    if not found:
        return []

    def agreed(boundaries: tuple[float, ...]) -> tuple[int, int]:
        return found.count(boundaries), -found.index(boundaries)

    best: tuple[float, ...] = max(found, key=agreed)
    return list(best)


def _boundaries(segments: Sequence[tuple[float, int]]) -> list[float]:
    elapsed, found = 0.0, []
    for seconds, _ in segments:
        found.append(elapsed)
        elapsed += seconds
    return found


def _aligned(measure: RungMeasure, reference: Sequence[float], problems: list[str]) -> bool:
    """Whether the rung's segments begin where the other rungs' do, to within a
    millisecond (a frame is at least 16 ms): a player switching rungs at a boundary must
    find the same picture there."""
    mine = _boundaries(measure.segments)
    if len(mine) != len(reference):
        problems.append(
            f"it has {len(mine)} segments where the other rungs have {len(reference)}: its "
            "keyframes are not aligned with theirs"
        )
        return False
    for number, (start, expected) in enumerate(zip(mine, reference, strict=True)):
        if abs(start - expected) > 0.001:
            problems.append(
                f"segment {number} begins at {start:.3f} s where the other rungs' begins at "
                f"{expected:.3f} s: its keyframes are not aligned with theirs"
            )
            return False
    return True


def _check_segments(measure: RungMeasure, problems: list[str]) -> None:
    for number, (seconds, _) in enumerate(measure.segments):
        if round(seconds) > SEGMENT_SECONDS:
            problems.append(
                f"segment {number} lasts {seconds:.3f} s, over the {SEGMENT_SECONDS} s target"
            )
            return


def segment_bitrates(segments: Sequence[tuple[float, int]]) -> tuple[int, int]:
    """The peak over the segments a player may fetch alone (at least half the target
    long, as Apple measures it), and the average, in bits per second."""
    seconds = sum(s for s, _ in segments)
    if seconds <= 0:
        return 0, 0
    average = math.ceil(sum(n for _, n in segments) * 8 / seconds)
    full = [(s, n) for s, n in segments if s >= SEGMENT_SECONDS / 2] or list(segments)
    peak = max(math.ceil(n * 8 / s) for s, n in full if s > 0)
    return peak, average


def _check_declared(claim: Declared, peak: int, average: int, problems: list[str]) -> None:
    if claim.bandwidth < peak * (1 - BANDWIDTH_TOLERANCE):
        problems.append(
            f"it declares a peak of {claim.bandwidth} bit/s where a segment measures {peak}"
        )
    if abs(claim.average_bandwidth - average) > average * BANDWIDTH_TOLERANCE:
        problems.append(
            f"it declares an average of {claim.average_bandwidth} bit/s where its segments "
            f"measure {average}"
        )


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def describe_rejections(rejected: Sequence[RungReceipt]) -> str:
    return "; ".join(f"{r.rung}: {', '.join(r.problems)}" for r in rejected)
