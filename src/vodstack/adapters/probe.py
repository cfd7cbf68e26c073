"""Probe a source with PyAV: what it holds, and whether it is a usable video at all.

Blocking; the transcoder runs it in a thread. The probe demuxes packets and decodes only the
first couple of seconds of video, so a broken bitstream is caught before any encode starts
while a long source costs no more than a short one. PyAV and FFmpeg errors are translated
here into ``InvalidMedia`` with a reason a person understands.
"""

from __future__ import annotations

import contextlib
import itertools
import statistics
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import InputContainer
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.reformatter import ColorTrc
from av.video.stream import VideoStream

from vodstack import errors
from vodstack.domain.ladder import display_size
from vodstack.domain.media import SourceInfo

# How much video the probe decodes: enough to reach past the first GOP of most phone and
# camera files, and bounded in frames so a 4K60 source is not slow to probe.
DECODE_CHECK_SECONDS = 2.0
DECODE_CHECK_FRAMES = 120
MIN_SIDE = 16
# avcodec's AVFieldOrder values.
_FIELD_ORDERS = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
# Nominal rates a measured rate snaps to when the stream declares none that fits.
_STANDARD_RATES = tuple(
    Fraction(rate)
    for rate in (
        *("10", "12", "12.5", "15000/1001", "15", "24000/1001", "24", "25", "30000/1001", "30"),
        *("48", "50", "60000/1001", "60", "90", "100", "120000/1001", "120"),
    )
)
_RATE_TOLERANCE = 0.01
# A declared rate this close to a standard one is that rate, written with a clock's rounding
# (90000/3749 is 24 fps in a 90 kHz timescale).
_DECLARED_TOLERANCE = 0.001
# A frame interval that differs from the typical one by more than this (and by more than
# timestamp rounding) makes the stream variable frame rate.
_VFR_TOLERANCE = 0.001


@dataclass(slots=True)
class _DecodeWindow:
    """What decoding the first seconds of video showed."""

    first: VideoFrame
    times: list[float] = field(default_factory=list)
    interlaced: bool = False


def probe(path: Path) -> SourceInfo:
    """Describe ``path``, or raise ``InvalidMedia`` saying why it is not a usable video."""
    size = path.stat().st_size
    if size == 0:
        raise errors.InvalidMedia("the file is empty")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        if _infrastructure(exc):
            raise
        raise errors.InvalidMedia(_open_failure(path, exc)) from exc
    with container:
        video = _video_stream(container)
        window = _decode_window(container, video)
        duration = _duration(container, video, window)
        return _source_info(container, video, window, duration)


def _infrastructure(exc: av.error.FFmpegError) -> bool:
    """A failure of the machine (I/O, memory), not of the file: the job should retry."""
    return isinstance(exc, OSError | MemoryError)


def _open_failure(path: Path, exc: av.error.FFmpegError) -> str:
    if _is_mp4_without_moov(path):
        return "file is truncated or damaged: moov atom not found (the MP4 index is missing)"
    if isinstance(exc, av.error.EOFError):
        return "file is truncated: it ends before its container header does"
    return "not a video file: its format is not recognised (or the file is damaged)"


def _is_mp4_without_moov(path: Path) -> bool:
    """Walk the top-level boxes of an ISO-BMFF file (reading headers only): an MP4 whose
    ``moov`` box is missing or unreachable cannot be played, whatever its ``mdat`` holds."""
    with path.open("rb") as file:
        size = file.seek(0, 2)
        pos, kinds = 0, []
        while pos + 8 <= size:
            file.seek(pos)
            length, kind = struct.unpack(">I4s", file.read(8))
            if length == 1:
                (length,) = struct.unpack(">Q", file.read(8))
            elif length == 0:
                length = size - pos
            kinds.append(kind)
            if length < 8:
                break
            pos += length
    return bool(kinds) and kinds[0] == b"ftyp" and b"moov" not in kinds


def _video_stream(container: InputContainer) -> VideoStream:
    """The first real video stream; cover art in an audio file is a video stream too."""
    pictures = [s for s in container.streams.video if s.disposition & Disposition.attached_pic]
    videos = [s for s in container.streams.video if s not in pictures]
    if videos:
        return videos[0]
    if container.streams.audio:
        cover = " and a cover image" if pictures else ""
        raise errors.InvalidMedia(f"no video stream (the file has only audio{cover})")
    raise errors.InvalidMedia("no video stream (the file holds no audio or video either)")


def _decode_window(container: InputContainer, video: VideoStream) -> _DecodeWindow:
    """Decode the first seconds of video. Any decoding error there rejects the file: FFmpeg
    would conceal it, but the viewer would see garbage or frozen frames."""
    video.thread_type = "AUTO"
    window: _DecodeWindow | None = None
    pts: int | None = None  # of the latest packet: a threaded decoder reports errors late
    for packet in container.demux(video):
        pts = packet.pts if packet.pts is not None else pts
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            if _infrastructure(exc):
                raise
            raise errors.InvalidMedia(_decode_failure(video, pts, exc)) from exc
        for frame in frames:
            if window is None:
                window = _DecodeWindow(first=frame)
            window.interlaced |= frame.interlaced_frame
            if frame.time is not None:
                window.times.append(frame.time)
        if window is not None and _window_full(window):
            break
    if window is None:
        codec = video.codec_context.name
        raise errors.InvalidMedia(f"the video stream cannot be decoded: no picture in it ({codec})")
    return window


def _window_full(window: _DecodeWindow) -> bool:
    if len(window.times) >= DECODE_CHECK_FRAMES:
        return True
    return len(window.times) > 1 and window.times[-1] - window.times[0] >= DECODE_CHECK_SECONDS


def _decode_failure(video: VideoStream, pts: int | None, exc: av.error.FFmpegError) -> str:
    codec = video.codec_context.name
    where = ""
    if pts is not None and video.time_base is not None:
        where = f" at {float(pts * video.time_base):.2f} s"
    if isinstance(exc, av.error.InvalidDataError):
        return f"the video stream cannot be decoded: invalid bitstream{where} ({codec})"
    return f"the video stream cannot be decoded{where}: {exc.strerror} ({codec})"


def _duration(container: InputContainer, video: VideoStream, window: _DecodeWindow) -> float:
    """From the header when it says; otherwise from the timestamps of the last packets."""
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    return max(_end_by_packets(container), window.times[-1] if window.times else 0.0)


def _end_by_packets(container: InputContainer) -> float:
    """Seek as close to the end as the index allows and demux (never decode) what is left.
    A file without an index is read through, streaming: slow for a huge file, but only the
    current packet is ever in memory."""
    # Where seeking is impossible, demux on from where the decode window stopped.
    with contextlib.suppress(av.error.FFmpegError):
        container.seek(2**62, backward=True)
    start = (container.start_time or 0) / av.time_base
    end = 0.0
    for packet in container.demux():
        if packet.pts is not None and packet.time_base is not None:
            last = packet.pts + (packet.duration or 0)
            end = max(end, float(last * packet.time_base) - start)
    return end


def _source_info(
    container: InputContainer, video: VideoStream, window: _DecodeWindow, duration: float
) -> SourceInfo:
    first = window.first
    if min(first.width, first.height) < MIN_SIDE:
        raise errors.InvalidMedia(
            f"the picture is too small to encode ({first.width}x{first.height})"
        )
    rotation = (-round(first.rotation / 90) * 90) % 360
    sar = _sample_aspect_ratio(video)
    display_width, display_height = display_size(first.width, first.height, sar, rotation)
    field_order = _FIELD_ORDERS.get(video.codec_context.field_order, "unknown")
    interlaced = field_order not in ("progressive", "unknown") or window.interlaced
    if field_order == "unknown" and not interlaced:
        field_order = "progressive"  # decoded frames showed no interlacing
    frame_rate, variable = _estimate_frame_rate(window.times, video)
    audio = container.streams.audio[0] if container.streams.audio else None
    return SourceInfo(
        container=container.format.name,
        duration=duration,
        video_codec=video.codec_context.codec.canonical_name,
        width=first.width,
        height=first.height,
        display_width=display_width,
        display_height=display_height,
        rotation=rotation,
        sample_aspect_ratio=sar,
        frame_rate=frame_rate,
        variable_frame_rate=variable,
        pixel_format=first.format.name,
        bit_depth=first.format.components[0].bits,
        interlaced=interlaced,
        field_order=field_order,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.codec.canonical_name if audio else None,
        audio_channels=audio.codec_context.channels if audio else 0,
        audio_sample_rate=audio.codec_context.sample_rate if audio else 0,
        color_transfer=_transfer_name(first.color_trc or video.codec_context.color_trc),
    )


def _sample_aspect_ratio(video: VideoStream) -> tuple[int, int]:
    sar = video.sample_aspect_ratio or video.codec_context.sample_aspect_ratio
    if not sar or sar <= 0:
        return (1, 1)
    return (sar.numerator, sar.denominator)


def _transfer_name(value: int) -> str:
    try:
        return ColorTrc(value).name.lower().replace("_", "-")
    except ValueError:
        return "unknown"


def _estimate_frame_rate(times: list[float], video: VideoStream) -> tuple[float, bool]:
    """``(nominal rate, variable?)`` from the decoded frames' timestamps.

    Variable: some frame interval differs from the typical (median) one beyond timestamp
    rounding. Nominal: for a constant rate, the rate the stream declares when it matches
    the frames (containers often declare nonsense: 1000 fps, a 90 kHz clock); otherwise
    the typical interval's rate, snapped to a standard rate when one is within 1%.
    """
    stamps = sorted(times)
    intervals = [b - a for a, b in itertools.pairwise(stamps) if b > a]
    declared = [r for r in (video.base_rate, video.average_rate) if r and r > 0]
    if not intervals:  # a single picture: its rate matters only for the keyframe grid
        return (_snap(float(declared[0]), _DECLARED_TOLERANCE) if declared else 25.0), False
    typical = statistics.median(intervals)
    tick = float(video.time_base) if video.time_base else 0.0
    slack = max(1.5 * tick, _VFR_TOLERANCE * typical)
    # The first interval may hold a gap where an open GOP's leading frames, which refer to
    # pictures before the start, could not be decoded; that says nothing about the rate.
    checked = intervals[1:] if len(intervals) > 2 else intervals
    variable = any(abs(i - typical) > slack for i in checked)
    measured = 1 / typical if variable else len(checked) / sum(checked)
    if not variable:
        for rate in declared:
            if abs(float(rate) - measured) <= _RATE_TOLERANCE * measured:
                return _snap(float(rate), _DECLARED_TOLERANCE), False
    return _snap(measured, _RATE_TOLERANCE), variable


def _snap(rate: float, tolerance: float) -> float:
    nearest = min(_STANDARD_RATES, key=lambda r: abs(float(r) - rate))
    if abs(float(nearest) - rate) <= tolerance * rate:
        return float(nearest)
    return round(rate, 3)
