"""I-frame playlists (trick play): byte ranges of the segments already published, so that
nothing is encoded twice. Pure: callers read the bytes and pass them in.

Each segment is one fMP4 fragment (``moof`` then ``mdat``) that starts with an IDR frame.
A player fetching an I-frame asks for the ``moof``, the ``mdat`` header and that first
sample. Only ONE I-frame per segment can be addressed so: the keyframes forced every 2 s
sit in the middle of the fragment's ``mdat``, and a byte range of one of them would lack
the ``moof`` that says where its samples are.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from vodstack.domain.playlist import HLS_VERSION, IFrameStream, _boxes, measure_bandwidth

IFRAMES_NAME = "iframes.m3u8"
# What is read of a segment first: a 6 s fragment's moof lists every sample of both
# tracks in a few KiB; the first frame itself is not needed to find its extent.
HEAD_BYTES = 64 * 1024
# A moof larger than this is not one ffmpeg wrote.
MAX_HEAD_BYTES = 4 * 2**20

# tfhd flags (ISO/IEC 14496-12, 8.8.7)
_BASE_DATA_OFFSET = 0x000001
_SAMPLE_DESCRIPTION_INDEX = 0x000002
_DEFAULT_DURATION = 0x000008
_DEFAULT_SIZE = 0x000010
_DEFAULT_FLAGS = 0x000020
# trun flags (8.8.8)
_DATA_OFFSET = 0x000001
_FIRST_SAMPLE_FLAGS = 0x000004
_SAMPLE_DURATION = 0x000100
_SAMPLE_SIZE = 0x000200
_SAMPLE_FLAGS = 0x000400
# sample flags (8.8.3.1): sample_is_non_sync_sample
_NON_SYNC = 0x00010000


class ShortHead(ValueError):
    """The bytes given end before the ``moof`` and the ``mdat`` header do: read ``needed``
    bytes of the segment and try again."""

    def __init__(self, needed: int) -> None:
        super().__init__(f"the segment's first {needed} bytes are needed")
        self.needed = needed


@dataclass(frozen=True, slots=True)
class VideoTrack:
    """What the init segment says of its video track: its id, and the defaults (``trex``)
    a fragment's samples take when the fragment does not say otherwise."""

    track_id: int
    default_size: int | None = None
    default_flags: int | None = None


@dataclass(frozen=True, slots=True)
class ByteRange:
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class IFrame:
    """One entry of an I-frame playlist: the segment, how long until the next I-frame,
    and where in the segment the I-frame is."""

    uri: str
    duration: float
    offset: int
    length: int


def video_track(init: bytes) -> VideoTrack | None:
    """The video track of an fMP4 init segment, or None if it has none (the audio)."""
    for kind, start, end in _boxes(init, 0, len(init)):
        if kind == b"moov":
            track_id = _video_track_id(init, start, end)
            if track_id is None:
                return None
            size, flags = _trex_defaults(init, start, end, track_id)
            return VideoTrack(track_id, size, flags)
    raise ValueError("the init segment has no moov box")


def _video_track_id(data: bytes, start: int, end: int) -> int | None:
    for kind, trak_start, trak_end in _boxes(data, start, end):
        if kind != b"trak":
            continue
        track_id: int | None = None
        handler = None
        for child, child_start, child_end in _boxes(data, trak_start, trak_end):
            if child == b"tkhd":
                version = data[child_start]
                track_id = int.from_bytes(data[child_start + (20 if version else 12) :][:4])
            elif child == b"mdia":
                for leaf, leaf_start, _ in _boxes(data, child_start, child_end):
                    if leaf == b"hdlr":
                        handler = data[leaf_start + 8 : leaf_start + 12]
        if handler == b"vide" and track_id is not None:
            return track_id
    return None


def _trex_defaults(data: bytes, start: int, end: int, track_id: int) -> tuple[int | None, int]:
    for kind, mvex_start, mvex_end in _boxes(data, start, end):
        if kind != b"mvex":
            continue
        for child, child_start, _ in _boxes(data, mvex_start, mvex_end):
            if child == b"trex":
                found, _, _, size, flags = struct.unpack_from(">5I", data, child_start + 4)
                if found == track_id:
                    return size or None, flags
    return None, 0


def iframe_range(head: bytes, track: VideoTrack) -> ByteRange:
    """Where a segment's first video sample can be fetched alone: from its ``moof`` to the
    end of that sample, with the ``mdat`` header between. ``head`` is the segment's first
    bytes; ``ShortHead`` says how many more are needed. Raises ValueError when the first
    sample is marked as not a sync sample, or the fragment is not one this can read."""
    moof, mdat = _top_boxes(head)
    moof_start, moof_payload, moof_end = moof
    for kind, start, end in _boxes(head, moof_payload, moof_end):
        if kind == b"traf":
            found = _traf_first_sample(head, start, end, track, moof_start)
            if found is not None:
                first, size = found
                mdat_payload, mdat_end = mdat
                if not (mdat_payload <= first and first + size <= mdat_end):
                    raise ValueError("the first video sample lies outside the mdat box")
                return ByteRange(moof_start, first + size - moof_start)
    raise ValueError(f"the fragment has no samples of track {track.track_id}")


def _top_boxes(head: bytes) -> tuple[tuple[int, int, int], tuple[int, int]]:
    """``(start, payload, end)`` of the first ``moof``, and ``(payload, end)`` of the
    ``mdat`` after it, whose end may lie past ``head``."""
    pos = 0
    moof: tuple[int, int, int] | None = None
    while True:
        if pos + 8 > len(head):
            raise ShortHead(pos + 8)
        size, kind = struct.unpack_from(">I4s", head, pos)
        header = 8
        if size == 1:
            if pos + 16 > len(head):
                raise ShortHead(pos + 16)
            (size,) = struct.unpack_from(">Q", head, pos + 8)
            header = 16
        if size < header:
            raise ValueError(f"box {kind!r} at offset {pos} has an impossible size {size}")
        if moof is not None:
            if kind != b"mdat":
                raise ValueError("the moof box is not followed by its mdat")
            return moof, (pos + header, pos + size)
        if kind == b"moof":
            if pos + size + 8 > len(head):  # the moof, and the mdat's header after it
                raise ShortHead(pos + size + 8)
            moof = (pos, pos + header, pos + size)
        elif kind == b"mdat":
            raise ValueError("the segment has media data before its moof box")
        pos += size


def _traf_first_sample(
    data: bytes, start: int, end: int, track: VideoTrack, moof_start: int
) -> tuple[int, int] | None:
    """``(offset in the segment, size)`` of the track fragment's first sample, or None when
    it is another track's."""
    boxes = {kind: (s, e) for kind, s, e in _boxes(data, start, end)}
    if b"tfhd" not in boxes or b"trun" not in boxes:
        return None
    pos = boxes[b"tfhd"][0]
    (flags,) = struct.unpack_from(">I", data, pos)
    track_id, pos = struct.unpack_from(">I", data, pos + 4)[0], pos + 8
    if track_id != track.track_id:
        return None
    base = moof_start  # default-base-is-moof, and the first track fragment's base without it
    size, sample_flags = track.default_size, track.default_flags
    if flags & _BASE_DATA_OFFSET:
        (base,), pos = struct.unpack_from(">Q", data, pos), pos + 8
    pos += 4 if flags & _SAMPLE_DESCRIPTION_INDEX else 0
    pos += 4 if flags & _DEFAULT_DURATION else 0
    if flags & _DEFAULT_SIZE:
        (size,), pos = struct.unpack_from(">I", data, pos), pos + 4
    if flags & _DEFAULT_FLAGS:
        (sample_flags,) = struct.unpack_from(">I", data, pos)
    offset, size, sample_flags = _trun_first_sample(data, boxes[b"trun"][0], size, sample_flags)
    if size is None:
        raise ValueError("the fragment does not say how large its first video sample is")
    if sample_flags is not None and sample_flags & _NON_SYNC:
        raise ValueError("the segment's first video sample is not a sync sample")
    return base + offset, size


def _trun_first_sample(
    data: bytes, pos: int, size: int | None, sample_flags: int | None
) -> tuple[int, int | None, int | None]:
    """The first sample's data offset (from the base), size and flags, from a trun box;
    where it says nothing, the defaults given."""
    flags, count = struct.unpack_from(">II", data, pos)
    if count == 0:
        raise ValueError("the fragment's video run has no samples")
    pos += 8
    offset = 0
    if flags & _DATA_OFFSET:
        (offset,), pos = struct.unpack_from(">i", data, pos), pos + 4
    if flags & _FIRST_SAMPLE_FLAGS:
        (sample_flags,), pos = struct.unpack_from(">I", data, pos), pos + 4
    pos += 4 if flags & _SAMPLE_DURATION else 0
    if flags & _SAMPLE_SIZE:
        (size,), pos = struct.unpack_from(">I", data, pos), pos + 4
    if flags & _SAMPLE_FLAGS and not flags & _FIRST_SAMPLE_FLAGS:
        (sample_flags,) = struct.unpack_from(">I", data, pos)
    return offset, size, sample_flags


def iframe_playlist(map_uri: str, frames: Sequence[IFrame], *, ended: bool = True) -> str:
    """The I-frame media playlist (RFC 8216 4.3.3.6): one entry per segment, each a byte
    range of it under the rung's own init segment. It ends, as VOD, when ``ended``."""
    if not frames:
        raise ValueError("an I-frame playlist needs at least one I-frame")
    target = max(1, max(round(f.duration) for f in frames))
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{HLS_VERSION}",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        f"#EXT-X-PLAYLIST-TYPE:{'VOD' if ended else 'EVENT'}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-I-FRAMES-ONLY",
        f'#EXT-X-MAP:URI="{map_uri}"',
    ]
    for frame in frames:
        lines += [
            f"#EXTINF:{frame.duration:.6f},",
            f"#EXT-X-BYTERANGE:{frame.length}@{frame.offset}",
            frame.uri,
        ]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def iframe_stream(
    uri: str, frames: Sequence[IFrame], codecs: str, resolution: tuple[int, int]
) -> IFrameStream:
    """The master's entry for an I-frame playlist: its bandwidth measured from the byte
    ranges a player fetches, as a media playlist's is from its segments; only the video
    codec, since an I-frame stream has no sound."""
    target = max(1, max(round(f.duration) for f in frames))
    peak, average = measure_bandwidth([(f.duration, f.length) for f in frames], target)
    return IFrameStream(uri, peak, average, video_codec(codecs), resolution)


def video_codec(codecs: str) -> str:
    """The video codec of a CODECS attribute: ``avc1.64001f`` of ``avc1.64001f,mp4a.40.2``."""
    for codec in codecs.split(","):
        if codec.strip().startswith(("avc1", "avc3", "hvc1", "hev1", "av01", "vp09")):
            return codec.strip()
    raise ValueError(f"{codecs!r} names no video codec")
