"""The HLS model: media playlists as ffmpeg writes them, the master playlist vodstack writes,
the bandwidth measured from the segments, and the exact RFC 6381 codec strings read from an
fMP4 init segment. Pure: callers read the files and pass their text or bytes in."""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from vodstack.domain.media import Rendition

# EXT-X-MAP in a playlist without I-frames-only needs version 6; ffmpeg writes 7 in the media
# playlists of fMP4 streams, and the master says the same so no player sees a mismatch.
HLS_VERSION = 7
MASTER_NAME = "master.m3u8"


@dataclass(frozen=True, slots=True)
class MediaSegment:
    uri: str
    duration: float


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    target_duration: int
    segments: tuple[MediaSegment, ...]
    map_uri: str | None = None  # the fMP4 init segment
    ended: bool = False

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    def render(self) -> str:
        """RFC 8216 text. A playlist that has not ended is an EVENT playlist (it only grows
        at its end); one that has is VOD, with ENDLIST."""
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{HLS_VERSION}",
            f"#EXT-X-TARGETDURATION:{self.target_duration}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            f"#EXT-X-PLAYLIST-TYPE:{'VOD' if self.ended else 'EVENT'}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        if self.map_uri is not None:
            lines.append(f'#EXT-X-MAP:URI="{self.map_uri}"')
        for segment in self.segments:
            lines += [f"#EXTINF:{segment.duration:.6f},", segment.uri]
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class VariantStream:
    """One ``#EXT-X-STREAM-INF`` entry."""

    uri: str
    bandwidth: int
    average_bandwidth: int
    codecs: str
    resolution: tuple[int, int]
    frame_rate: float
    audio: str | None = None  # the GROUP-ID of its audio renditions

    def render(self) -> str:
        attributes = [
            f"BANDWIDTH={self.bandwidth}",
            f"AVERAGE-BANDWIDTH={self.average_bandwidth}",
            f'CODECS="{self.codecs}"',
            f"RESOLUTION={self.resolution[0]}x{self.resolution[1]}",
            f"FRAME-RATE={self.frame_rate:.3f}",
        ]
        if self.audio is not None:
            attributes.append(f'AUDIO="{self.audio}"')
        return f"#EXT-X-STREAM-INF:{','.join(attributes)}\n{self.uri}\n"


@dataclass(frozen=True, slots=True)
class IFrameStream:
    """One ``#EXT-X-I-FRAME-STREAM-INF`` entry: a rung's I-frame playlist, for trick play.
    No AUDIO or FRAME-RATE: an I-frame stream has neither."""

    uri: str
    bandwidth: int
    average_bandwidth: int
    codecs: str  # the video codec only
    resolution: tuple[int, int]

    def render(self) -> str:
        return (
            f"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={self.bandwidth},"
            f'AVERAGE-BANDWIDTH={self.average_bandwidth},CODECS="{self.codecs}",'
            f'RESOLUTION={self.resolution[0]}x{self.resolution[1]},URI="{self.uri}"\n'
        )


@dataclass(frozen=True, slots=True)
class AudioGroup:
    """One audio rendition that every variant refers to: the audio is encoded once, not
    once per rung. The variants' BANDWIDTH and CODECS include it."""

    group_id: str
    name: str
    uri: str

    def render(self) -> str:
        return (
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{self.group_id}",NAME="{self.name}",'
            f'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="{self.uri}"\n'
        )


@dataclass(frozen=True, slots=True)
class MasterPlaylist:
    variants: tuple[VariantStream, ...]
    version: int = HLS_VERSION
    independent_segments: bool = True
    audio: AudioGroup | None = None
    iframes: tuple[IFrameStream, ...] = ()

    def render(self) -> str:
        head = f"#EXTM3U\n#EXT-X-VERSION:{self.version}\n"
        if self.independent_segments:
            head += "#EXT-X-INDEPENDENT-SEGMENTS\n"
        if self.audio is not None:
            head += self.audio.render()
        variants = "".join(v.render() for v in self.variants)
        return head + variants + "".join(i.render() for i in self.iframes)


def master_playlist(
    renditions: Sequence[Rendition],
    audio: AudioGroup | None = None,
    iframes: Sequence[IFrameStream] = (),
) -> MasterPlaylist:
    """Players start with the first variant listed, before they have measured anything, so a
    middle rung goes first (not the top one, which would stall a slow link, nor the bottom
    one, which would look poor on a fast link); the rest follow highest to lowest. I-frame
    streams are listed after the variants, highest first."""
    ordered = sorted(renditions, key=lambda r: (r.width * r.height, r.bandwidth), reverse=True)
    if ordered:
        ordered.insert(0, ordered.pop((len(ordered) - 1) // 2))
    group = None if audio is None else audio.group_id
    trick = sorted(iframes, key=lambda i: (i.resolution[0] * i.resolution[1], i.bandwidth))
    return MasterPlaylist(
        variants=tuple(_variant(r, group) for r in ordered),
        audio=audio,
        iframes=tuple(reversed(trick)),
    )


def _variant(rendition: Rendition, audio: str | None = None) -> VariantStream:
    return VariantStream(
        audio=audio,
        uri=rendition.playlist,
        bandwidth=rendition.bandwidth,
        average_bandwidth=rendition.average_bandwidth,
        codecs=rendition.codecs,
        resolution=(rendition.width, rendition.height),
        frame_rate=rendition.frame_rate,
    )


def parse_media_playlist(text: str) -> MediaPlaylist:
    """The subset of RFC 8216 that ffmpeg's VOD playlists use: target duration, the init
    segment's URI, and each segment with its duration."""
    target = 0
    map_uri: str | None = None
    ended = False
    segments: list[MediaSegment] = []
    duration: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-MAP:"):
            map_uri = _attribute(line.partition(":")[2], "URI")
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].partition(",")[0])
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            if duration is None:
                raise ValueError(f"segment {line!r} has no #EXTINF before it")
            segments.append(MediaSegment(uri=line, duration=duration))
            duration = None
    return MediaPlaylist(target, tuple(segments), map_uri, ended)


_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')


def rewrite_uris(text: str, resolve: Callable[[str], str]) -> str:
    """The playlist with every URI (segment lines and ``URI="..."`` attributes, such as
    the init segment's) replaced by ``resolve(uri)``."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            out.append(raw)
        elif line.startswith("#"):
            out.append(_URI_ATTRIBUTE.sub(lambda m: f'URI="{resolve(m.group(1))}"', raw))
        else:
            out.append(resolve(line))
    return "\n".join(out) + "\n"


def _attribute(attributes: str, name: str) -> str | None:
    for part in attributes.split(","):
        key, _, value = part.partition("=")
        if key.strip() == name:
            return value.strip().strip('"')
    return None


# --- subtitles: added to the master at serve time, since captions change after publishing ---

SUBTITLES_GROUP = "subs"


@dataclass(frozen=True, slots=True)
class SubtitleRendition:
    """One ``#EXT-X-MEDIA:TYPE=SUBTITLES`` entry: a caption's own media playlist."""

    name: str
    language: str
    uri: str

    def render(self) -> str:
        name = self.name.replace('"', "'")
        return (
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLES_GROUP}",NAME="{name}",'
            f'LANGUAGE="{self.language}",DEFAULT=NO,AUTOSELECT=YES,URI="{self.uri}"'
        )


def with_subtitles(master: str, subtitles: Sequence[SubtitleRendition]) -> str:
    """The master playlist with the subtitle renditions listed before the first variant,
    and every variant naming their group; unchanged when there are none."""
    if not subtitles:
        return master
    out: list[str] = []
    listed = False
    for line in master.splitlines():
        if line.startswith("#EXT-X-STREAM-INF:"):
            if not listed:
                out += [s.render() for s in subtitles]
                listed = True
            line += f',SUBTITLES="{SUBTITLES_GROUP}"'
        out.append(line)
    return "\n".join(out) + "\n"


def measure_bandwidth(
    segments: Sequence[tuple[float, int]], target_duration: int
) -> tuple[int, int]:
    """``(peak, average)`` bits per second from ``(duration, size in bytes)`` per segment.

    Peak is RFC 8216's peak segment bit rate: the highest rate of any run of consecutive
    segments lasting 0.5 to 1.5 target durations, so a final sliver of a segment holding one
    keyframe does not pass for the stream's peak. The init segment is left out of both: a
    player fetches it once per switch, not once per segment.
    """
    total_seconds = sum(d for d, _ in segments)
    if total_seconds <= 0:
        raise ValueError("a playlist without duration has no bandwidth")
    average = math.ceil(sum(size for _, size in segments) * 8 / total_seconds)
    low, high = 0.5 * target_duration, 1.5 * target_duration
    peak = 0
    for start in range(len(segments)):
        seconds, size = 0.0, 0
        for duration, length in segments[start:]:
            if seconds + duration > high:
                break
            seconds, size = seconds + duration, size + length
            if seconds >= low:
                peak = max(peak, math.ceil(size * 8 / seconds))
    # A stream shorter than half a target duration has no qualifying run: its average is
    # the best measure of its peak there is.
    return max(peak, average), average


# --- codecs from the init segment ------------------------------------------------------

_CONTAINER_BOXES = (b"moov", b"trak", b"mdia", b"minf", b"stbl")
# Bytes between a sample entry's header and its child boxes (ISO/IEC 14496-12).
_VISUAL_ENTRY_FIELDS = 78
_AUDIO_ENTRY_FIELDS = 28


def codecs_from_init(data: bytes) -> str:
    """The CODECS attribute for an fMP4 init segment, e.g. ``avc1.64001f,mp4a.40.2``:
    video first, from each track's sample description."""
    try:
        found = [_sample_entry_codec(kind, start, end, data) for kind, start, end in _entries(data)]
    except IndexError as exc:  # a descriptor that runs past the end of its box
        raise ValueError("the init segment is truncated") from exc
    codecs = [c for c in found if c is not None]
    if not codecs:
        raise ValueError("the init segment describes no H.264 or AAC track")
    return ",".join(sorted(codecs, key=lambda c: not c.startswith("avc")))


def avc_codec(avcc: bytes, entry: str = "avc1") -> str:
    """``avc1.PPCCLL`` from an AVCDecoderConfigurationRecord (the avcC box's payload):
    profile, constraint flags and level, each as two hex digits."""
    if len(avcc) < 4 or avcc[0] != 1:
        raise ValueError("not an AVCDecoderConfigurationRecord")
    return f"{entry}.{avcc[1]:02x}{avcc[2]:02x}{avcc[3]:02x}"


def mp4a_codec(esds: bytes) -> str:
    """``mp4a.OO.A`` from an esds box's payload (after version and flags): the object type
    indication in hex, then the audio object type (2 is AAC-LC) in decimal."""
    pos = _descriptor(esds, 0, 0x03)
    flags = esds[pos + 2]
    pos += 3
    if flags & 0x80:  # streamDependenceFlag: a dependsOn_ES_ID follows
        pos += 2
    if flags & 0x40:  # URL_Flag: a length-prefixed URL follows
        pos += 1 + esds[pos]
    if flags & 0x20:  # OCRstreamFlag: an OCR_ES_Id follows
        pos += 2
    pos = _descriptor(esds, pos, 0x04)
    object_type = esds[pos]
    pos = _descriptor(esds, pos + 13, 0x05)
    audio_type = esds[pos] >> 3
    if audio_type == 31:
        audio_type = 32 + ((esds[pos] & 0x07) << 3 | esds[pos + 1] >> 5)
    return f"mp4a.{object_type:02x}.{audio_type}"


def _descriptor(data: bytes, pos: int, tag: int) -> int:
    """Check the descriptor tag at ``pos``; return where its body starts."""
    if data[pos] != tag:
        raise ValueError(f"expected descriptor tag {tag:#x}, found {data[pos]:#x}")
    pos += 1
    for _ in range(4):  # the size: up to four 7-bit groups, high bit set on all but the last
        more = data[pos] & 0x80
        pos += 1
        if not more:
            break
    return pos


def _sample_entry_codec(entry: bytes, start: int, end: int, data: bytes) -> str | None:
    if entry in (b"avc1", b"avc3"):
        for kind, child_start, child_end in _boxes(data, start + _VISUAL_ENTRY_FIELDS, end):
            if kind == b"avcC":
                return avc_codec(data[child_start:child_end], entry.decode())
    if entry == b"mp4a":
        for kind, child_start, child_end in _boxes(data, start + _AUDIO_ENTRY_FIELDS, end):
            if kind == b"esds":
                return mp4a_codec(data[child_start + 4 : child_end])
    return None


def _entries(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """Every sample entry of every track: moov/trak/mdia/minf/stbl/stsd/<entry>."""
    yield from _walk(data, 0, len(data), 0)


def _walk(data: bytes, start: int, end: int, depth: int) -> Iterator[tuple[bytes, int, int]]:
    for kind, child_start, child_end in _boxes(data, start, end):
        if depth < len(_CONTAINER_BOXES) and kind == _CONTAINER_BOXES[depth]:
            yield from _walk(data, child_start, child_end, depth + 1)
        elif depth == len(_CONTAINER_BOXES) and kind == b"stsd":
            # A full box (version, flags) and an entry count precede the entries.
            yield from _boxes(data, child_start + 8, child_end)


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, payload start, box end)`` for each box in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"box {kind!r} at offset {pos} has an impossible size {size}")
        yield kind, pos + header, pos + size
        pos += size
