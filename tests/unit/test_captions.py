"""Reading SRT and WebVTT, the refusals a person reads, and the HLS subtitle segments."""

from __future__ import annotations

import pytest

from vodstack.domain.captions import (
    CaptionError,
    Cue,
    check_language,
    parse_captions,
    render_webvtt,
    source_caption_name,
    source_language,
    subtitle_playlist,
    subtitle_segments,
)
from vodstack.domain.playlist import SubtitleRendition, with_subtitles

SRT = (
    "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\n\r\n"
    "2\r\n00:00:05,250 --> 00:00:07,000 X1:10 X2:20\r\n<i>Two</i>\r\nlines {\\an8}\r\n\r\n"
)
VTT = """WEBVTT - a title

NOTE a comment
that spans lines

STYLE
::cue { color: yellow }

intro
00:01.000 --> 00:02.000 line:0 align:start
Hi

00:00:06.500 --> 00:00:13.000
Across --> two segments
"""


def test_srt_with_bom_crlf_numbers_and_multi_line_cues() -> None:
    assert parse_captions(SRT.encode()) == [
        Cue(1.0, 2.5, "Hello"),
        Cue(5.25, 7.0, "<i>Two</i>\nlines"),
    ]


def test_webvtt_with_notes_styles_names_and_cue_settings() -> None:
    assert parse_captions(VTT.encode()) == [
        Cue(1.0, 2.0, "Hi", "line:0 align:start"),
        Cue(6.5, 13.0, "Across -> two segments"),
    ]


def test_a_file_in_windows_western_encoding_is_read() -> None:
    data = "1\n00:00:01,000 --> 00:00:02,000\nCafé\n".encode("cp1252")
    assert parse_captions(data)[0].text == "Café"


def test_rendered_webvtt_reads_back_the_same() -> None:
    cues = parse_captions(VTT.encode())
    text = render_webvtt(cues)
    assert text.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:02.000 line:0 align:start\nHi\n")
    assert parse_captions(text.encode()) == cues


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n12\n00:01:xx,000 --> 00:01:02,000\nbad\n",
            "line 6: '00:01:xx,000 --> 00:01:02,000' is not a cue timing",
        ),
        (b"just some words\n", "line 1: 'just some words' is not a cue timing"),
        (
            b"1\n00:00:05,000 --> 00:00:04,000\nback\n",
            "line 2: the cue ends (00:00:04.000) before it starts (00:00:05.000)",
        ),
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf\r\n \n", "the file is empty"),
        (b"WEBVTT\n\nNOTE only a note\n", "the file holds no cues"),
        (b"\x00\x01\x02binary\x00", "not text: it holds binary data"),
        (b"WEBVTTX\n", "line 1: a WebVTT file starts with 'WEBVTT'"),
        (b"1\n00:00:61,000 --> 00:01:02,000\nx\n", "line 2: minutes and seconds"),
        (b"1\n" + b"x" * (2 * 2**20), "larger than 2 MiB"),
    ],
)
def test_a_bad_file_is_refused_with_the_line_at_fault(data: bytes, words: str) -> None:
    with pytest.raises(CaptionError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_captions(data)


def test_segments_line_up_with_the_videos_and_hold_the_cues_of_their_window() -> None:
    cues = parse_captions(VTT.encode())
    playlist = subtitle_playlist(14.0)
    assert playlist.splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-TARGETDURATION:6",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXTINF:6.000000,",
        "seg_00000.vtt",
        "#EXTINF:6.000000,",
        "seg_00001.vtt",
        "#EXTINF:2.000000,",
        "seg_00002.vtt",
        "#EXT-X-ENDLIST",
    ]
    segments = subtitle_segments(cues, 14.0, 0.0)
    assert len(segments) == 3
    header = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n"
    assert all(s.startswith(header) for s in segments)
    times = [[(c.start, c.end) for c in parse_captions(s.encode())] for s in segments]
    assert times == [[(1.0, 2.0)], [(6.5, 13.0)], [(6.5, 13.0)]]


def test_a_split_videos_offset_timeline_is_in_the_timestamp_map() -> None:
    segment = subtitle_segments([Cue(0.5, 1.0, "a")], 3.0, 1.0)[0]
    assert "X-TIMESTAMP-MAP=MPEGTS:90000,LOCAL:00:00:00.000\n" in segment
    assert subtitle_playlist(3.0).count(".vtt") == 1


def test_language_tags() -> None:
    assert [check_language(t) for t in ("en", "pt-BR", "und", "zh-Hant-TW")] == [
        "en",
        "pt-BR",
        "und",
        "zh-Hant-TW",
    ]
    for bad in ("", "english!", "e", "en_US", "a" * 40):
        with pytest.raises(CaptionError, match="not a language tag"):
            check_language(bad)
    assert [source_language(t) for t in ("eng", "fre", "pt-BR", None, "??")] == [
        "en",
        "fr",
        "pt-BR",
        "und",
        "und",
    ]


def test_a_source_track_is_named_by_title_then_language_then_number() -> None:
    assert source_caption_name("Director's commentary", "en", 0) == "Director's commentary"
    assert source_caption_name(None, "fr", 1) == "French"
    assert source_caption_name(" ", "und", 2) == "Track 3"


def test_the_master_lists_subtitles_and_every_variant_names_their_group() -> None:
    master = (
        "#EXTM3U\n#EXT-X-VERSION:7\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="audio",URI="audio/index.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="aac"\n480p/index.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=2,AUDIO="aac"\n720p/index.m3u8\n'
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=3,URI="720p/iframes.m3u8"\n'
    )
    tracks = [
        SubtitleRendition("English", "en", "captions/a/index.m3u8"),
        SubtitleRendition('Say "hi"', "pt-BR", "captions/b/index.m3u8"),
    ]
    assert with_subtitles(master, tracks).splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="audio",URI="audio/index.m3u8"',
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",'
        'DEFAULT=NO,AUTOSELECT=YES,URI="captions/a/index.m3u8"',
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Say \'hi\'",LANGUAGE="pt-BR",'
        'DEFAULT=NO,AUTOSELECT=YES,URI="captions/b/index.m3u8"',
        '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="aac",SUBTITLES="subs"',
        "480p/index.m3u8",
        '#EXT-X-STREAM-INF:BANDWIDTH=2,AUDIO="aac",SUBTITLES="subs"',
        "720p/index.m3u8",
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=3,URI="720p/iframes.m3u8"',
    ]
    assert with_subtitles(master, []) == master
