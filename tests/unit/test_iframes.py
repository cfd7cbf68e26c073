"""I-frame playlists: finding a fragment's first frame in its boxes, the playlists, and the
checker of Apple's authoring rules that the other tests use, shown to catch each rule."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

import pytest

from tests.support.hls import iframe_playlist_problems
from tests.unit.test_playlist import box
from vodstack.domain.iframes import (
    ByteRange,
    IFrame,
    ShortHead,
    VideoTrack,
    iframe_playlist,
    iframe_range,
    iframe_stream,
    video_codec,
    video_track,
)
from vodstack.domain.media import Rendition
from vodstack.domain.playlist import master_playlist

DEFAULT_BASE_IS_MOOF = 0x020000
SYNC = 0x02000000  # depends on no other sample
NON_SYNC = 0x01010000  # depends on others, and is not a sync sample


def full(kind: bytes, flags: int, body: bytes) -> bytes:
    return box(kind, fields=struct.pack(">I", flags) + body)


def traf(track: int, samples: list[tuple[int, int]], data_offset: int, **tfhd: int) -> bytes:
    """A track fragment as ffmpeg writes it: tfhd with defaults, then one trun with each
    sample's size and flags."""
    flags, fields = DEFAULT_BASE_IS_MOOF, b""
    if "default_size" in tfhd:
        flags, fields = flags | 0x10, fields + struct.pack(">I", tfhd["default_size"])
    if "default_flags" in tfhd:
        flags, fields = flags | 0x20, fields + struct.pack(">I", tfhd["default_flags"])
    run_flags = 0x001 | (0x200 if samples[0][0] else 0) | (0x400 if samples[0][1] >= 0 else 0)
    run = struct.pack(">Ii", len(samples), data_offset)
    for size, sample_flags in samples:
        run += struct.pack(">I", size) if run_flags & 0x200 else b""
        run += struct.pack(">I", sample_flags) if run_flags & 0x400 else b""
    return box(
        b"traf",
        full(b"tfhd", flags, struct.pack(">I", track) + fields),
        full(b"tfdt", 0, bytes(4)),
        full(b"trun", run_flags, run),
    )


def fragment(*trafs: Callable[[int], bytes], media: int, prefix: bytes = b"") -> bytes:
    """``prefix`` (styp, sidx...), a moof of ``trafs`` (each told the moof's size, so its
    data offset can point into the mdat), then an mdat of ``media`` bytes."""
    size = len(box(b"moof", box(b"mfhd", fields=bytes(8)), *(t(0) for t in trafs)))
    moof = box(b"moof", box(b"mfhd", fields=bytes(8)), *(t(size) for t in trafs))
    return prefix + moof + box(b"mdat", fields=bytes(media))


VIDEO = VideoTrack(1)
STYP = box(b"styp", fields=b"msdh\0\0\0\0msdhmsix")


def test_the_first_frame_is_the_moof_the_mdat_header_and_its_sample() -> None:
    # As ffmpeg writes it: video then audio in one mdat, the video's first sample 4000 B.
    segment = fragment(
        lambda moof: traf(1, [(4000, SYNC), (900, NON_SYNC)], moof + 8),
        lambda moof: traf(2, [(300, -1), (300, -1)], moof + 8 + 4900, default_flags=SYNC),
        media=5500,
        prefix=STYP,
    )
    found = iframe_range(segment, VIDEO)
    moof_size = struct.unpack_from(">I", segment, len(STYP))[0]
    assert found == ByteRange(len(STYP), moof_size + 8 + 4000)
    assert segment[found.offset + 4 : found.offset + 8] == b"moof"


def test_the_audio_may_come_first_in_the_mdat() -> None:
    segment = fragment(
        lambda moof: traf(2, [(300, -1)], moof + 8),
        lambda moof: traf(1, [(4000, SYNC)], moof + 8 + 300),
        media=4300,
    )
    moof_size = struct.unpack_from(">I", segment)[0]
    assert iframe_range(segment, VIDEO) == ByteRange(0, moof_size + 8 + 300 + 4000)


def test_sizes_and_flags_the_run_leaves_out_come_from_the_track_defaults() -> None:
    tfhd_default = fragment(
        lambda moof: traf(1, [(0, -1)], moof + 8, default_size=700, default_flags=SYNC),
        media=700,
    )
    moof_size = struct.unpack_from(">I", tfhd_default)[0]
    assert iframe_range(tfhd_default, VIDEO).length == moof_size + 8 + 700
    trex_default = fragment(lambda moof: traf(1, [(0, -1)], moof + 8), media=700)
    moof_size = struct.unpack_from(">I", trex_default)[0]
    assert iframe_range(trex_default, VideoTrack(1, 700, SYNC)).length == moof_size + 8 + 700
    with pytest.raises(ValueError, match="how large its first video sample is"):
        iframe_range(trex_default, VIDEO)


def test_a_first_sample_that_is_not_a_sync_sample_is_refused() -> None:
    segment = fragment(lambda moof: traf(1, [(4000, NON_SYNC)], moof + 8), media=4000)
    with pytest.raises(ValueError, match="not a sync sample"):
        iframe_range(segment, VIDEO)
    by_default = fragment(
        lambda moof: traf(1, [(4000, -1)], moof + 8, default_flags=NON_SYNC), media=4000
    )
    with pytest.raises(ValueError, match="not a sync sample"):
        iframe_range(by_default, VIDEO)


def test_a_sample_past_the_mdat_is_refused() -> None:
    segment = fragment(lambda moof: traf(1, [(4000, SYNC)], moof + 8), media=3999)
    with pytest.raises(ValueError, match="outside the mdat"):
        iframe_range(segment, VIDEO)


def test_a_short_head_says_how_much_is_needed() -> None:
    segment = fragment(lambda moof: traf(1, [(4000, SYNC)], moof + 8), media=4000, prefix=STYP)
    moof_end = len(STYP) + struct.unpack_from(">I", segment, len(STYP))[0]
    for cut in (0, 10, len(STYP) + 4, moof_end):
        head, asked = segment[:cut], 0
        while True:  # as a reader does: read what is asked for, until it is enough
            try:
                found = iframe_range(head, VIDEO)
                break
            except ShortHead as short:
                needed = short.needed
            assert needed > len(head)
            head, asked = segment[:needed], asked + 1
        assert 1 <= asked <= 3
        assert found == iframe_range(segment, VIDEO)
    # The frame's own bytes are never needed to find where it is.
    assert iframe_range(segment[: moof_end + 8], VIDEO).length == moof_end - len(STYP) + 4008


def test_a_fragment_without_the_video_track_is_refused() -> None:
    segment = fragment(lambda moof: traf(2, [(300, SYNC)], moof + 8), media=300)
    with pytest.raises(ValueError, match="no samples of track 1"):
        iframe_range(segment, VIDEO)


def _trak(track: int, handler: bytes) -> bytes:
    tkhd = bytes(12) + struct.pack(">I", track) + bytes(68)
    hdlr = bytes(8) + handler + bytes(13)
    return box(b"trak", box(b"tkhd", fields=tkhd), box(b"mdia", box(b"hdlr", fields=hdlr)))


def test_the_video_track_and_its_defaults_come_from_the_init_segment() -> None:
    trex = full(b"trex", 0, struct.pack(">5I", 2, 1, 0, 512, SYNC))
    init = box(b"ftyp", fields=b"iso5") + box(
        b"moov", _trak(1, b"soun"), _trak(2, b"vide"), box(b"mvex", trex)
    )
    assert video_track(init) == VideoTrack(2, 512, SYNC)
    audio = box(b"moov", _trak(1, b"soun"))
    assert video_track(audio) is None


FRAMES = [
    IFrame("seg_00000.m4s", 6.0, 128, 30_000),
    IFrame("seg_00001.m4s", 6.0, 128, 45_000),
    IFrame("seg_00002.m4s", 2.5, 128, 10_000),
]


def test_golden_i_frame_playlist() -> None:
    assert iframe_playlist("init.mp4", FRAMES) == (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-I-FRAMES-ONLY\n"
        '#EXT-X-MAP:URI="init.mp4"\n'
        "#EXTINF:6.000000,\n#EXT-X-BYTERANGE:30000@128\nseg_00000.m4s\n"
        "#EXTINF:6.000000,\n#EXT-X-BYTERANGE:45000@128\nseg_00001.m4s\n"
        "#EXTINF:2.500000,\n#EXT-X-BYTERANGE:10000@128\nseg_00002.m4s\n"
        "#EXT-X-ENDLIST\n"
    )


def test_an_i_frame_stream_is_measured_from_its_byte_ranges_and_has_no_audio() -> None:
    stream = iframe_stream("720p/iframes.m3u8", FRAMES, "avc1.64001f,mp4a.40.2", (1280, 720))
    assert stream.codecs == "avc1.64001f"
    assert stream.bandwidth == 60_000  # 45000 B in 6 s; the last, short one with it
    assert stream.average_bandwidth == math.ceil(85_000 * 8 / 14.5)
    assert video_codec("mp4a.40.2,avc1.640028") == "avc1.640028"
    with pytest.raises(ValueError, match="names no video codec"):
        video_codec("mp4a.40.2")


# --- the checker, and each rule it holds playlists to -----------------------------------


def _rendition(name: str, width: int, height: int) -> Rendition:
    return Rendition(
        name,
        width,
        height,
        2_000_000,
        1_500_000,
        "avc1.64001f,mp4a.40.2",
        30.0,
        f"{name}/index.m3u8",
    )


def _ladder() -> tuple[str, dict[str, str]]:
    renditions = [_rendition("720p", 1280, 720), _rendition("480p", 854, 480)]
    streams = [
        iframe_stream(f"{r.name}/iframes.m3u8", FRAMES, r.codecs, (r.width, r.height))
        for r in renditions
    ]
    master = master_playlist(renditions, iframes=streams).render()
    return master, {s.uri: iframe_playlist("init.mp4", FRAMES) for s in streams}


def test_the_checker_passes_what_vodstack_writes() -> None:
    master, texts = _ladder()
    assert iframe_playlist_problems(master, texts) == []


def _in_master(old: str, new: str) -> Callable[[str, dict[str, str]], tuple[str, dict[str, str]]]:
    return lambda master, texts: (master.replace(old, new), texts)


def _in_media(old: str, new: str) -> Callable[[str, dict[str, str]], tuple[str, dict[str, str]]]:
    return lambda master, texts: (master, {k: v.replace(old, new) for k, v in texts.items()})


def _one_stream(master: str, texts: dict[str, str]) -> tuple[str, dict[str, str]]:
    lines = master.splitlines()
    last = max(i for i, line in enumerate(lines) if "I-FRAME-STREAM-INF" in line)
    return "\n".join(lines[:last] + lines[last + 1 :]), texts


BROKEN = [
    ("no I-frames-only tag", _in_media("#EXT-X-I-FRAMES-ONLY\n", ""), "no EXT-X-I-FRAMES-ONLY"),
    ("version 3", _in_media("#EXT-X-VERSION:7", "#EXT-X-VERSION:3"), "below the 4"),
    ("version 4 with a map", _in_media("#EXT-X-VERSION:7", "#EXT-X-VERSION:4"), "below the 5"),
    ("no map", _in_media('#EXT-X-MAP:URI="init.mp4"\n', ""), "without EXT-X-MAP"),
    ("an entry without EXTINF", _in_media("#EXTINF:2.500000,\n", ""), "has no EXTINF"),
    (
        "an entry without a byte range",
        _in_media("#EXT-X-BYTERANGE:45000@128\n", ""),
        "seg_00001.m4s has no EXT-X-BYTERANGE",
    ),
    (
        "a target duration too short",
        _in_media("#EXT-X-TARGETDURATION:6", "#EXT-X-TARGETDURATION:5"),
        "past the target duration 5",
    ),
    ("no target duration", _in_media("#EXT-X-TARGETDURATION:6\n", ""), "no EXT-X-TARGETDURATION"),
    ("no end list", _in_media("#EXT-X-ENDLIST\n", ""), "without EXT-X-ENDLIST"),
    ("no BANDWIDTH", _in_master("-INF:BANDWIDTH=60000,", "-INF:"), "has no BANDWIDTH"),
    ("no CODECS", _in_master('CODECS="avc1.64001f",RESOLUTION', "RESOLUTION"), "has no CODECS"),
    ("no RESOLUTION", _in_master("RESOLUTION=854x480,URI", "URI"), "has no RESOLUTION"),
    ("no URI", _in_master(',URI="480p/iframes.m3u8"', ""), "has no URI"),
    ("an AUDIO group", _in_master(',URI="480p/', ',AUDIO="audio",URI="480p/'), "has AUDIO"),
    ("a FRAME-RATE", _in_master(',URI="480p/', ',FRAME-RATE=30.000,URI="480p/'), "FRAME-RATE"),
    (
        "an audio codec",
        _in_master('CODECS="avc1.64001f",RES', 'CODECS="avc1.64001f,mp4a.40.2",RES'),
        "not video",
    ),
    ("one I-frame stream for two variants", _one_stream, "1 I-frame streams for 2 variants"),
    ("a stream without its playlist", lambda m, t: (m, {}), "has no playlist"),
]


@pytest.mark.parametrize(
    ("breaks", "problem"), [(b, p) for _, b, p in BROKEN], ids=[name for name, _, _ in BROKEN]
)
def test_the_checker_catches_each_broken_rule(
    breaks: Callable[[str, dict[str, str]], tuple[str, dict[str, str]]], problem: str
) -> None:
    master, texts = _ladder()
    broken_master, broken_texts = breaks(master, texts)
    assert (broken_master, broken_texts) != (master, texts), "the break changed nothing"
    found = iframe_playlist_problems(broken_master, broken_texts)
    assert any(problem in p for p in found), found
