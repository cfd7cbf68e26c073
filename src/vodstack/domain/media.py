"""What the media pipeline knows about a source and what it made of it: pure records."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vodstack.domain.chunks import RungOutput
    from vodstack.domain.pictures import Tile
    from vodstack.domain.quality import Receipt


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch of a stream with nothing in it, in seconds from the source's start."""

    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class SubtitleTrack:
    """A subtitle stream of the source, as its tags describe it."""

    index: int  # among the source's subtitle streams: ffmpeg's ``0:s:INDEX``
    codec: str
    language: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A probed source. ``display_width``/``display_height`` are what a viewer sees: after
    the sample aspect ratio and the rotation are applied."""

    container: str
    duration: float
    video_codec: str
    width: int
    height: int
    display_width: int
    display_height: int
    rotation: int  # degrees clockwise to apply for display: 0, 90, 180 or 270
    sample_aspect_ratio: tuple[int, int]
    frame_rate: float
    variable_frame_rate: bool
    pixel_format: str
    bit_depth: int
    interlaced: bool
    field_order: str  # "progressive", "tt", "bb", "tb", "bt" or "unknown"
    has_audio: bool
    audio_codec: str | None = None
    audio_channels: int = 0
    audio_sample_rate: int = 0
    # ffmpeg's name for the transfer function: "smpte2084" (PQ) and "arib-std-b67" (HLG)
    # are HDR and need tone mapping to 8-bit SDR.
    color_transfer: str = "unknown"
    # What the header says, where the packets end sooner (``duration`` is where they end).
    declared_duration: float | None = None
    stream_count: int = 1
    # Stretches with no new picture longer than a keyframe interval: each is encoded as one
    # frame per interval, not filled at the full rate.
    stills: tuple[Gap, ...] = ()
    subtitles: tuple[SubtitleTrack, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceInfo:
        values = dict(data)
        values["sample_aspect_ratio"] = tuple(values["sample_aspect_ratio"])
        values["stills"] = tuple(Gap(**g) for g in values.get("stills", ()))
        values["subtitles"] = tuple(SubtitleTrack(**t) for t in values.get("subtitles", ()))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Rung:
    """One step of the ladder, as planned."""

    name: str  # "1080p", "720p", ... or e.g. "160p" for a tiny source
    width: int
    height: int
    video_bitrate: int  # bits per second
    maxrate: int
    bufsize: int
    audio_bitrate: int
    # Capped quality-targeted encoding: this constant rate factor under ``maxrate``; None
    # encodes at ``video_bitrate`` (the fixed ladder, and plans made before there was one).
    crf: int | None = None


@dataclass(frozen=True, slots=True)
class EncoderChoice:
    """The H.264 encoder a worker uses, and why (logged and recorded on the job)."""

    name: str  # "libx264" or "h264_nvenc"
    reason: str
    hwaccel: bool = False  # decode and scale on the GPU too


@dataclass(frozen=True, slots=True)
class Rendition:
    """One encoded rung, as measured from its output."""

    name: str
    width: int
    height: int
    bandwidth: int  # measured peak bits per second over any segment
    average_bandwidth: int
    codecs: str  # exact, e.g. "avc1.64001f,mp4a.40.2"
    frame_rate: float
    playlist: str  # relative to the master playlist, e.g. "720p/index.m3u8"


@dataclass(frozen=True, slots=True)
class TranscodeResult:
    """What one ffmpeg run wrote into its output folder, ready to publish."""

    command: list[str]
    encoder: EncoderChoice
    duration: float
    renditions: list[Rendition]
    master_playlist: str  # the file name in the output folder, "master.m3u8"
    files: list[Path] = field(default_factory=list)  # every file written, relative
    # The frame the poster is taken from, in seconds (see ``domain.pictures``); None
    # without a storyboard to choose it from.
    cover_time: float | None = None
    receipt: Receipt | None = None  # each rung's measured quality (``domain.quality``)


@dataclass(frozen=True, slots=True)
class PartResult:
    """What one part's ffmpeg run wrote: each rendition's segments, in the output folder."""

    command: list[str]
    encoder: EncoderChoice
    rungs: tuple[RungOutput, ...]
    # The storyboard's tiles of the part's span, when it encodes the lowest rung: their
    # sheets are in the output folder's ``storyboard/``.
    tiles: tuple[Tile, ...] = ()
    # For the video's quality receipt: the command line without the worker's paths, the
    # build, and the seconds the encode and the measurement of its rungs took.
    public_command: str | None = None
    ffmpeg_version: str | None = None
    encode_seconds: float = 0.0
    measure_seconds: float = 0.0
