from __future__ import annotations

import struct

import pytest

from vodstack.domain.media import Rendition
from vodstack.domain.playlist import (
    MasterPlaylist,
    VariantStream,
    avc_codec,
    codecs_from_init,
    master_playlist,
    measure_bandwidth,
    mp4a_codec,
    parse_media_playlist,
    rewrite_uris,
)

# The avcC payload and esds payload (version and flags included) of a 1280x720 init.mp4
# written by the pinned ffmpeg: libx264 High profile, level 3.1; AAC-LC 48 kHz stereo.
AVCC = bytes.fromhex(
    "0164001fffe1001c6764001facd9405005bb016a020202800000030080000019078c18cb01000468efbcb0fdf8f800"
)
ESDS = bytes.fromhex(
    "000000000380808025000200048080801740150000000001f4000001f4000580808005119056e500068080800102"
)


def box(kind: bytes, *children: bytes, fields: bytes = b"") -> bytes:
    body = fields + b"".join(children)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def init_segment(*entries: bytes) -> bytes:
    """An init segment shaped like ffmpeg's: ftyp, then moov/trak/.../stsd per track."""
    traks = [
        box(
            b"trak",
            box(b"tkhd", fields=bytes(84)),
            box(
                b"mdia",
                box(b"mdhd", fields=bytes(24)),
                box(
                    b"minf",
                    box(
                        b"stbl",
                        box(b"stsd", entry, fields=struct.pack(">II", 0, 1)),
                        box(b"stts", fields=bytes(8)),
                    ),
                ),
            ),
        )
        for entry in entries
    ]
    return box(b"ftyp", fields=b"iso5\0\0\2\0iso5iso6mp41") + box(
        b"moov", box(b"mvhd", fields=bytes(100)), *traks
    )


AVC1_ENTRY = box(
    b"avc1", box(b"avcC", fields=AVCC), box(b"pasp", fields=bytes(8)), fields=bytes(78)
)
MP4A_ENTRY = box(b"mp4a", box(b"esds", fields=ESDS), fields=bytes(28))


def test_codec_strings_from_real_boxes() -> None:
    assert avc_codec(AVCC) == "avc1.64001f"
    assert mp4a_codec(ESDS[4:]) == "mp4a.40.2"


def test_codecs_from_an_init_segment_list_video_first() -> None:
    assert codecs_from_init(init_segment(AVC1_ENTRY, MP4A_ENTRY)) == "avc1.64001f,mp4a.40.2"
    assert codecs_from_init(init_segment(MP4A_ENTRY, AVC1_ENTRY)) == "avc1.64001f,mp4a.40.2"
    assert codecs_from_init(init_segment(AVC1_ENTRY)) == "avc1.64001f"


def test_codecs_from_an_init_segment_without_known_tracks() -> None:
    with pytest.raises(ValueError, match=r"no H\.264 or AAC track"):
        codecs_from_init(init_segment(box(b"hvc1", fields=bytes(78))))
    with pytest.raises(ValueError, match="impossible size"):
        codecs_from_init(init_segment(AVC1_ENTRY)[:-10])
    cut_esds = box(b"mp4a", box(b"esds", fields=ESDS[:12]), fields=bytes(28))
    with pytest.raises(ValueError, match="truncated"):
        codecs_from_init(init_segment(AVC1_ENTRY, cut_esds))


def test_avc_codec_rejects_other_records() -> None:
    with pytest.raises(ValueError, match="AVCDecoderConfigurationRecord"):
        avc_codec(b"\x02\x64\x00\x1f")


def test_mp4a_codec_with_an_extended_audio_object_type() -> None:
    # DecoderSpecificInfo starting 11111 000001 = escape, then 32 + 1 = 33 (Layer-1).
    esds = bytes.fromhex("0315000100040d40150000000001f4000001f4000502f820")
    assert mp4a_codec(esds) == "mp4a.40.33"


MEDIA_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXTINF:6.006000,
seg_00000.m4s
#EXTINF:6.006000,
seg_00001.m4s
#EXTINF:0.500000,
seg_00002.m4s
#EXT-X-ENDLIST
"""


def test_parse_media_playlist() -> None:
    playlist = parse_media_playlist(MEDIA_PLAYLIST)
    assert playlist.target_duration == 6
    assert playlist.map_uri == "init.mp4"
    assert playlist.ended
    assert [(s.uri, s.duration) for s in playlist.segments] == [
        ("seg_00000.m4s", 6.006),
        ("seg_00001.m4s", 6.006),
        ("seg_00002.m4s", 0.5),
    ]
    assert playlist.duration == pytest.approx(12.512)


def test_a_segment_needs_its_duration() -> None:
    with pytest.raises(ValueError, match="no #EXTINF"):
        parse_media_playlist("#EXTM3U\nseg_00000.m4s\n")


def test_bandwidth_peak_and_average() -> None:
    segments = [(6.0, 750_000), (6.0, 1_500_000), (6.0, 750_000)]
    peak, average = measure_bandwidth(segments, target_duration=6)
    assert peak == 2_000_000  # the second segment: 1.5 MB in 6 s
    assert average == 1_333_334  # 3 MB in 18 s, rounded up


def test_a_short_last_segment_is_measured_with_its_neighbour() -> None:
    # 0.1 s holding a whole keyframe would read as 8 Mbit/s on its own; RFC 8216 measures
    # runs of 3 to 9 s here, so it is taken together with the segment before it.
    segments = [(6.0, 750_000), (0.1, 100_000)]
    peak, average = measure_bandwidth(segments, target_duration=6)
    assert peak == 1_114_755  # 850 kB over 6.1 s, rounded up
    assert average == peak


def test_a_stream_shorter_than_half_a_target_duration_peaks_at_its_average() -> None:
    assert measure_bandwidth([(0.3, 30_000)], target_duration=6) == (800_000, 800_000)
    with pytest.raises(ValueError, match="without duration"):
        measure_bandwidth([], target_duration=6)


def rendition(name: str, width: int, height: int, bandwidth: int) -> Rendition:
    return Rendition(
        name=name,
        width=width,
        height=height,
        bandwidth=bandwidth,
        average_bandwidth=bandwidth * 9 // 10,
        codecs="avc1.64001f,mp4a.40.2",
        frame_rate=30000 / 1001,
        playlist=f"{name}/index.m3u8",
    )


LADDER = [
    rendition("1080p", 1920, 1080, 5_600_000),
    rendition("720p", 1280, 720, 3_100_000),
    rendition("480p", 854, 480, 1_560_000),
    rendition("240p", 426, 240, 520_000),
]

GOLDEN_MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=3100000,AVERAGE-BANDWIDTH=2790000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=29.970
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=5600000,AVERAGE-BANDWIDTH=5040000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=29.970
1080p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1560000,AVERAGE-BANDWIDTH=1404000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=854x480,FRAME-RATE=29.970
480p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=520000,AVERAGE-BANDWIDTH=468000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=426x240,FRAME-RATE=29.970
240p/index.m3u8
"""


def test_golden_master_playlist_lists_a_middle_rung_first() -> None:
    assert master_playlist(LADDER).render() == GOLDEN_MASTER
    # The order the renditions come in does not matter.
    assert master_playlist(LADDER[::-1]).render() == GOLDEN_MASTER


@pytest.mark.parametrize(
    ("names", "first"),
    [
        (["1080p", "720p", "480p", "240p"], "720p"),
        (["720p", "480p", "240p"], "480p"),
        (["480p", "240p"], "480p"),
        (["240p"], "240p"),
    ],
)
def test_which_rung_comes_first(names: list[str], first: str) -> None:
    chosen = [r for r in LADDER if r.name in names]
    order = [v.uri.split("/")[0] for v in master_playlist(chosen).variants]
    assert order[0] == first
    rest = [n for n in names if n != first]
    assert order[1:] == rest  # highest to lowest


def test_variant_without_audio_and_version() -> None:
    variant = VariantStream("120p/index.m3u8", 90_000, 70_000, "avc1.64000b", (160, 120), 29.97)
    text = MasterPlaylist((variant,), independent_segments=False).render()
    assert text == (
        "#EXTM3U\n#EXT-X-VERSION:7\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=90000,AVERAGE-BANDWIDTH=70000,CODECS="avc1.64000b",'
        "RESOLUTION=160x120,FRAME-RATE=29.970\n120p/index.m3u8\n"
    )


def test_rewrite_uris_reaches_segments_and_the_init_segment_only() -> None:
    text = (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n"
        '#EXT-X-MAP:URI="init.mp4"\n#EXTINF:6.000000,\nseg_00000.m4s\n'
        "#EXTINF:2.500000,\nseg_00001.m4s\n#EXT-X-ENDLIST\n"
    )
    rewritten = rewrite_uris(text, lambda uri: f"https://cdn.example/v/{uri}?sig=1")
    assert '#EXT-X-MAP:URI="https://cdn.example/v/init.mp4?sig=1"' in rewritten
    assert "https://cdn.example/v/seg_00001.m4s?sig=1" in rewritten.splitlines()
    parsed = parse_media_playlist(rewritten)
    assert [s.duration for s in parsed.segments] == [6.0, 2.5]
    assert parsed.ended
    assert rewrite_uris(text, lambda uri: uri) == text
