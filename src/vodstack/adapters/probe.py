"""Probe a source with PyAV: what it holds, and whether it is a usable video at all.

The probe decodes only the first couple of seconds of video, so a broken bitstream is
caught before any encode starts, and demuxes the rest, so that what the file really holds
(where its pictures and sound end, and where they stop for a while) is known, not what its
header claims. PyAV and FFmpeg errors are translated here into ``InvalidMedia`` with a
reason a person understands.

The parsers are large C code reading hostile bytes: the worker never runs them itself.
``probe_contained`` runs this module as a child process with limits a file cannot exceed
(see ``adapters.sandbox``), and a crash there is that file's verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import os
import statistics
import struct
import sys
import traceback
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
from av.container import InputContainer
from av.stream import Disposition
from av.video.frame import VideoFrame
from av.video.reformatter import ColorTrc
from av.video.stream import VideoStream

from vodstack import errors
from vodstack.adapters.sandbox import Confinement, network_isolation, signal_name
from vodstack.domain import budgets
from vodstack.domain.budgets import MediaLimits
from vodstack.domain.ffmpeg_args import input_options
from vodstack.domain.ladder import display_size
from vodstack.domain.media import Gap, SourceInfo, SubtitleTrack

log = logging.getLogger(__name__)

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


def probe(path: Path, limits: MediaLimits | None = None) -> SourceInfo:
    """Describe ``path``, or raise ``InvalidMedia`` saying why it is not a usable video or
    which of ``limits`` it breaks. Runs in a contained child process (``probe_contained``);
    called directly only by tests."""
    limits = limits or MediaLimits()
    with path.open("rb") as file:  # an OSError here is the machine's, not the file's
        if not file.read(1):
            raise errors.InvalidMedia("the file is empty")
    with _open(path) as container:
        _check(budgets.too_many_streams(len(container.streams), limits))
        video = _video_stream(container)
        context = video.codec_context
        _check(budgets.frame_too_large(context.width, context.height, limits))
        window = _decode_window(container, video, limits)
        index = video.index
    with _open(path) as container:
        video = next(s for s in container.streams.video if s.index == index)
        timeline = _timeline(container, video)
        declared = _declared_duration(container, video)
        return _source_info(container, video, window, _verdict(declared, timeline, limits))


def _open(path: Path) -> InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore", options=input_options(path))
    except av.error.FFmpegError as exc:
        raise errors.InvalidMedia(_open_failure(path, exc)) from exc


def _check(refusal: str | None) -> None:
    if refusal is not None:
        raise errors.InvalidMedia(refusal)


def _open_failure(path: Path, exc: av.error.FFmpegError) -> str:
    if _is_mp4_without_moov(path):
        return "file is truncated or damaged: moov atom not found (the MP4 index is missing)"
    if isinstance(exc, av.error.EOFError):
        return "file is truncated: it ends before its container header does"
    kind = _sniff(path)
    if kind is not None:
        return f"not a video file: it is {kind}, which is not accepted"
    return "not a video file: its format is not recognised (or the file is damaged)"


_MAX_TOP_LEVEL_BOXES = 10_000
# Formats ffmpeg could open but that are refused: what a person is told each one is.
_SIGNATURES = (
    (b"#EXTM3U", "a playlist (a list of links to other files)"),
    (b"ffconcat", "a concat list (a list of other files)"),
    (b"file ", "a concat list (a list of other files)"),
    (b"<?xml", "an XML document (a DASH manifest or another list of links)"),
    (b"<MPD", "a DASH manifest (a list of links to other files)"),
    (b"WEBVTT", "a subtitle file"),
    (b"[Script Info]", "a subtitle file"),
    (b"\x89PNG", "a picture (PNG)"),
    (b"\xff\xd8\xff", "a picture (JPEG)"),
    (b"BM", "a picture (BMP)"),
)


def _sniff(path: Path) -> str | None:
    with path.open("rb") as file:
        head = file.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)


def _is_mp4_without_moov(path: Path) -> bool:
    """Walk the top-level boxes of an ISO-BMFF file (reading headers only): an MP4 whose
    ``moov`` box is missing or unreachable cannot be played, whatever its ``mdat`` holds.
    A real file has a handful of top-level boxes; a hostile one of millions is not walked."""
    with path.open("rb") as file:
        size = file.seek(0, 2)
        pos, kinds = 0, list[bytes]()
        while pos + 8 <= size and len(kinds) < _MAX_TOP_LEVEL_BOXES:
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


def _decode_window(
    container: InputContainer, video: VideoStream, limits: MediaLimits
) -> _DecodeWindow:
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
            raise errors.InvalidMedia(_decode_failure(video, pts, exc)) from exc
        for frame in frames:
            if window is None:
                # What the decoder makes, whatever the header said.
                _check(budgets.frame_too_large(frame.width, frame.height, limits))
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


@dataclass(slots=True)
class _Timeline:
    """Where the packets of the video and of the first audio stream really are."""

    end: float = 0.0
    stills: list[Gap] = field(default_factory=list)
    silence: Gap | None = None  # the longest


# Packets reach the demuxer in decode order; B-frames put presentation times a few places
# out of order, never more than this many.
_REORDER_DEPTH = 32


def _timeline(container: InputContainer, video: VideoStream) -> _Timeline:
    """Demux (never decode) every packet of the video and of the first audio stream: a
    file without an index is read through, streaming, with only a few timestamps ever in
    memory. Times are plain floats, each stream's time base converted once: this loop
    runs for every packet of a film."""
    audio = container.streams.audio[0] if container.streams.audio else None
    streams = [s for s in (video, audio) if s is not None and s.time_base is not None]
    ticks = {s.index: float(s.time_base) for s in streams if s.time_base is not None}
    start = (container.start_time or 0) / av.time_base
    found, pending = _Timeline(), list[float]()
    last_picture = audio_end = None
    longest_silence = 0.0
    try:
        for packet in container.demux(*streams):
            pts = packet.pts
            if pts is None:
                continue
            tick = ticks[packet.stream_index]
            at = pts * tick - start
            end = at + (packet.duration or 0) * tick
            found.end = max(found.end, end)
            if packet.stream_index == video.index:
                heapq.heappush(pending, at)
                if len(pending) > _REORDER_DEPTH:
                    last_picture = _picture(found, last_picture, heapq.heappop(pending))
            else:
                if audio_end is not None and at - audio_end > longest_silence:
                    found.silence, longest_silence = Gap(audio_end, at), at - audio_end
                audio_end = end
    except av.error.FFmpegError:
        pass  # damaged further on: what was read so far is what the file holds
    while pending:
        last_picture = _picture(found, last_picture, heapq.heappop(pending))
    return found


def _picture(found: _Timeline, last: float | None, at: float) -> float:
    if last is not None and at - last > budgets.STILL_SECONDS:
        found.stills.append(Gap(last, at))
    return at


def _declared_duration(container: InputContainer, video: VideoStream) -> float | None:
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    return None


def _verdict(declared: float | None, timeline: _Timeline, limits: MediaLimits) -> _Held:
    """What the file holds, against its limits: refused (InvalidMedia) or described."""
    held = timeline.end or declared or 0.0
    if declared is not None:
        _check(budgets.decoded_too_little(declared, held, limits))
    duration = held if declared is None or budgets.truncated(declared, held) else declared
    _check(budgets.too_long(duration, limits))
    longest = max(timeline.stills, key=lambda g: g.length, default=None)
    _check(budgets.still_too_long(longest, "no new picture", limits))
    _check(budgets.still_too_long(timeline.silence, "no sound", limits))
    return _Held(duration, declared, budgets.thinned(timeline.stills))


@dataclass(frozen=True, slots=True)
class _Held:
    duration: float
    declared: float | None
    stills: tuple[Gap, ...]


def _source_info(
    container: InputContainer, video: VideoStream, window: _DecodeWindow, held: _Held
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
        duration=held.duration,
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
        declared_duration=held.declared,
        stream_count=len(container.streams),
        stills=held.stills,
        subtitles=_subtitle_tracks(container),
    )


def _subtitle_tracks(container: InputContainer) -> tuple[SubtitleTrack, ...]:
    """Every subtitle stream, text or picture: the worker extracts the text ones."""
    tracks = []
    for index, stream in enumerate(container.streams.subtitles):
        tags = {key.lower(): value for key, value in (stream.metadata or {}).items()}
        tracks.append(
            SubtitleTrack(
                index=index,
                codec=stream.codec_context.name if stream.codec_context else "unknown",
                language=(tags.get("language") or "").strip()[:35] or None,
                title=(tags.get("title") or "").strip()[:200] or None,
            )
        )
    return tuple(tracks)


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


# --- the probe as a contained child process ------------------------------------------------

# The probe demuxes the whole file and decodes two seconds: a minute of CPU is far more
# than any real file needs.
PROBE_CPU_SECONDS = 60.0
_CHILD = [sys.executable, "-m", "vodstack.adapters.probe"]


async def probe_contained(
    path: Path, limits: MediaLimits, memory_bytes: int | None, seconds: float
) -> SourceInfo:
    """``probe`` in a child process: a parser that crashes, loops or grows takes down that
    child alone, and the file is refused with the reason."""
    confinement = Confinement(
        memory_bytes=memory_bytes,
        cpu_seconds=PROBE_CPU_SECONDS,
        file_bytes=0,  # it writes no file
        isolate_network=True,
    )
    await asyncio.to_thread(network_isolation)  # tried once per process: not on the loop
    process = await asyncio.create_subprocess_exec(
        *_CHILD,
        json.dumps(limits.to_json()),
        str(path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=confinement.preexec(),
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MALLOC_ARENA_MAX": "2"},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError:
        raise errors.InvalidMedia(
            f"reading the file took longer than {seconds:.0f} s, and was stopped"
        ) from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return _answer(process.returncode or 0, stdout, stderr, confinement)


def _answer(returncode: int, stdout: bytes, stderr: bytes, confinement: Confinement) -> SourceInfo:
    if stderr.strip():
        log.warning("probe: %s", stderr.decode(errors="replace").strip()[-2000:])
    limit = confinement.verdict(returncode)
    if limit is not None:
        raise errors.InvalidMedia(f"reading the file was stopped: {limit}")
    if returncode < 0:
        raise errors.InvalidMedia(
            f"the file crashed the video parser ({signal_name(returncode)}): it is damaged, "
            "or not a video"
        )
    try:
        answer = json.loads(stdout)
    except ValueError:
        raise errors.TranscodeFailed(f"the probe exited with {returncode} and no answer") from None
    if "info" in answer:
        return SourceInfo.from_json(answer["info"])
    if "invalid" in answer:
        raise errors.InvalidMedia(answer["invalid"])
    raise errors.TranscodeFailed(answer.get("unreadable", "the probe gave no answer"))


def _child_answer(limits: MediaLimits, path: Path) -> dict[str, Any]:
    """Every error the file can cause is its verdict; only a source that cannot be read
    at all is the machine's (and the job retries)."""
    try:
        return {"info": probe(path, limits).to_json()}
    except errors.InvalidMedia as exc:
        return {"invalid": exc.message}
    except av.error.FFmpegError as exc:  # an OSError too, but the file's, not the machine's
        return {"invalid": f"the file is damaged: {exc.strerror or type(exc).__name__}"}
    except OSError as exc:
        return {"unreadable": f"the stored source could not be read: {exc.strerror}"}
    except MemoryError:
        return {"invalid": "reading the file needs more memory than the limit allows"}
    except Exception as exc:  # a parser's error on this file's bytes
        traceback.print_exc()
        return {"invalid": f"the file could not be read as a video ({type(exc).__name__})"}


def main() -> None:
    limits, path = MediaLimits.from_json(json.loads(sys.argv[1])), Path(sys.argv[2])
    print(json.dumps(_child_answer(limits, path)))


if __name__ == "__main__":
    main()
