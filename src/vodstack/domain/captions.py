"""Captions: SRT and WebVTT read into cues, written back as WebVTT, and cut into the 6 s
WebVTT segments of an HLS subtitle playlist. Pure: callers read and write the files.

A file a person uploads is checked here, and every refusal says what is wrong and on which
line, in plain words (``CaptionError``)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from vodstack.domain.ffmpeg_args import input_options
from vodstack.domain.grid import SEGMENT_SECONDS

MAX_CAPTION_BYTES = 2 * 2**20
MAX_NAME_LENGTH = 64
SEGMENT_NAME = "seg_{:05d}.vtt"
MPEGTS_CLOCK = 90_000
# A source's text subtitles become WebVTT; pictures (DVD, Blu-ray, DVB) cannot be.
TEXT_SUBTITLE_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})


class CaptionError(ValueError):
    """A caption file that cannot be used; the message says why, for a person."""


class CaptionOrigin(StrEnum):
    SOURCE = "source"  # a subtitle track of the uploaded video
    UPLOAD = "upload"  # a file its owner added


@dataclass(frozen=True, slots=True)
class Caption:
    """One text track of a video. Its text is in storage, at ``caption_key``."""

    id: str
    video_id: str
    language: str
    name: str
    origin: CaptionOrigin
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Cue:
    start: float  # seconds
    end: float
    text: str  # one or more lines, joined by "\n"
    settings: str = ""  # WebVTT cue settings, such as "line:0 align:start"


def caption_key(video_id: str, caption_id: str) -> str:
    """Not under an epoch: a caption outlives every re-encode of its video."""
    return f"captions/{video_id}/{caption_id}.vtt"


def caption_prefix(video_id: str) -> str:
    return f"captions/{video_id}/"


def source_caption_id(video_id: str, track: int) -> str:
    """The same for every attempt of the video's job, so a retry replaces what an earlier
    attempt stored instead of leaving it behind."""
    return hashlib.sha256(f"{video_id}/source/{track}".encode()).hexdigest()[:32]


# --- reading -------------------------------------------------------------------------------

_TIME = r"(?:(\d{1,3}):)?(\d{1,2}):(\d{2})[,.](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+(.*?))?\s*$")
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")  # {\an8} and the like, which SRT files carry


def parse_captions(data: bytes, limit: int = MAX_CAPTION_BYTES) -> list[Cue]:
    """The cues of an SRT or WebVTT file of at most ``limit`` bytes, in the file's order.
    Raises CaptionError."""
    lines = _text(data, limit).split("\n")
    number = 0
    webvtt = lines[0].startswith("WEBVTT")
    if webvtt:
        if len(lines[0]) > 6 and lines[0][6] not in " \t":
            raise CaptionError("line 1: a WebVTT file starts with 'WEBVTT' alone on its line")
        number = _skip_block(lines, 0)
    cues: list[Cue] = []
    while number < len(lines):
        if not lines[number].strip():
            number += 1
            continue
        end = _skip_block(lines, number)
        block = lines[number:end]
        if not (webvtt and block[0].split(" ", 1)[0] in ("NOTE", "STYLE", "REGION")):
            cues.append(_cue(block, number + 1, webvtt))
        number = end
    if not cues:
        raise CaptionError("the file holds no cues")
    return cues


def _text(data: bytes, limit: int) -> str:
    if len(data) > limit:
        raise CaptionError(f"the file is larger than {limit / 2**20:g} MiB")
    if not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise CaptionError("the file is empty")
    if b"\x00" in data:
        raise CaptionError("the file is not text: it holds binary data")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older SRT files are often in Windows' Western encoding, which decodes any byte.
        text = data.decode("cp1252", errors="replace")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n")
    if controls > len(text) // 100:
        raise CaptionError("the file is not text: it holds binary data")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _skip_block(lines: Sequence[str], number: int) -> int:
    """The index of the blank line (or the end) that closes the block at ``number``."""
    while number < len(lines) and lines[number].strip():
        number += 1
    return number


def _cue(block: list[str], first_line: int, webvtt: bool) -> Cue:
    # The timing is the block's first line, or its second after a cue number or name.
    at = 0 if "-->" in block[0] or len(block) == 1 else 1
    timing = _TIMING.match(block[at])
    line = first_line + at
    if timing is None:
        shown = block[at].strip()
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise CaptionError(f"line {line}: {shown!r} is not a cue timing")
    groups = timing.groups()
    start, end = _seconds(groups[0:4], line), _seconds(groups[4:8], line)
    if end < start:
        raise CaptionError(
            f"line {line}: the cue ends ({format_time(end)}) before it starts "
            f"({format_time(start)})"
        )
    settings = (groups[8] or "") if webvtt else ""
    text = "\n".join(_clean(t) for t in block[at + 1 :])
    return Cue(start, end, text, " ".join(settings.split()))


def _seconds(parts: Sequence[str | None], line: int) -> float:
    hours, minutes, seconds, fraction = parts
    if int(minutes or 0) > 59 or int(seconds or 0) > 59:
        raise CaptionError(f"line {line}: minutes and seconds in a cue timing go up to 59")
    millis = int((fraction or "0").ljust(3, "0"))
    total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    return total + millis / 1000


def _clean(line: str) -> str:
    # "-->" would end the cue's text in WebVTT, where it marks a timing line.
    return _ASS_OVERRIDE.sub("", line).rstrip().replace("-->", "->")


# --- writing ------------------------------------------------------------------------------


def format_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _render_cues(cues: Sequence[Cue]) -> str:
    out = []
    for cue in cues:
        timing = f"{format_time(cue.start)} --> {format_time(cue.end)}"
        if cue.settings:
            timing += f" {cue.settings}"
        out.append(f"{timing}\n{cue.text}\n\n" if cue.text else f"{timing}\n\n")
    return "".join(out)


def render_webvtt(cues: Sequence[Cue]) -> str:
    return "WEBVTT\n\n" + _render_cues(cues)


# --- HLS --------------------------------------------------------------------------------


def segment_count(duration: float) -> int:
    """As many 6 s segments as the video's, so that each lines up with a video segment."""
    return max(1, math.ceil(duration / SEGMENT_SECONDS - 1e-6))


def subtitle_playlist(duration: float) -> str:
    """The VOD media playlist of a caption, covering the video's ``duration``."""
    count = segment_count(duration)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{SEGMENT_SECONDS}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    for index in range(count):
        length = min(SEGMENT_SECONDS, duration - index * SEGMENT_SECONDS)
        lines += [f"#EXTINF:{max(length, 0.001):.6f},", SEGMENT_NAME.format(index)]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def subtitle_segments(cues: Sequence[Cue], duration: float, timeline_start: float) -> list[str]:
    """Every segment of a caption: a WebVTT document each, holding the cues that overlap its
    6 s window, with their times from the video's start. ``timeline_start`` is where the
    video's own timestamps begin (a chunked video's are offset): the timestamp map tells
    the player so, and the cues land where the pictures are."""
    header = (
        "WEBVTT\nX-TIMESTAMP-MAP="
        f"MPEGTS:{round(timeline_start * MPEGTS_CLOCK)},LOCAL:00:00:00.000\n\n"
    )
    ordered = sorted(cues, key=lambda c: c.start)
    count = segment_count(duration)
    segments = []
    for index in range(count):
        start = index * SEGMENT_SECONDS
        end = math.inf if index == count - 1 else start + SEGMENT_SECONDS
        inside = [c for c in ordered if c.start < end and (c.end > start or c.start >= start)]
        segments.append(header + _render_cues(inside))
    return segments


# --- a source's own subtitles ------------------------------------------------------------


def subtitle_file(out_dir: Path, track: int) -> Path:
    return out_dir / f"out_{track}.vtt"


def subtitle_command(ffmpeg: str, source: Path, tracks: Sequence[int], out_dir: Path) -> list[str]:
    """One ffmpeg run that writes each of the source's subtitle ``tracks`` (``0:s:N``) as
    WebVTT: it demuxes the file and decodes only the subtitles, never a picture."""
    options = [arg for key, value in input_options(source).items() for arg in (f"-{key}", value)]
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *options]
    command += ["-i", str(source)]
    for track in tracks:
        command += ["-map", f"0:s:{track}", "-c:s", "webvtt", "-f", "webvtt"]
        command.append(str(subtitle_file(out_dir, track)))
    return command


# --- languages and names -----------------------------------------------------------------

_LANGUAGE = re.compile(r"^(?:[A-Za-z]{2,3}|und)(?:-[A-Za-z0-9]{1,8})*$")
_NAMES = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "ja": "Japanese",
    "zh": "Chinese",
    "ko": "Korean",
    "ar": "Arabic",
    "hi": "Hindi",
    "pl": "Polish",
    "sv": "Swedish",
    "tr": "Turkish",
}
# ISO 639-2 codes, as containers tag their streams, to the BCP 47 tags players expect.
_THREE_LETTER = {
    "eng": "en",
    "fre": "fr",
    "fra": "fr",
    "ger": "de",
    "deu": "de",
    "spa": "es",
    "ita": "it",
    "por": "pt",
    "dut": "nl",
    "nld": "nl",
    "rus": "ru",
    "jpn": "ja",
    "chi": "zh",
    "zho": "zh",
    "kor": "ko",
    "ara": "ar",
    "hin": "hi",
    "pol": "pl",
    "swe": "sv",
    "tur": "tr",
}


def check_language(tag: str) -> str:
    """A BCP 47 language tag (``en``, ``pt-BR``, ``und``). Raises CaptionError."""
    tag = tag.strip()
    if len(tag) > 35 or not _LANGUAGE.match(tag):
        raise CaptionError(
            f"{tag[:40]!r} is not a language tag: use one such as 'en', 'pt-BR' or 'und'"
        )
    return tag


def check_name(name: str) -> str:
    name = " ".join(name.split())
    controls = any(ord(c) < 32 or ord(c) == 127 for c in name)
    if not name or len(name) > MAX_NAME_LENGTH or '"' in name or controls:
        raise CaptionError(
            f"a caption's name is 1 to {MAX_NAME_LENGTH} characters, without double quotes "
            "or control characters"
        )
    return name


def source_language(tag: str | None) -> str:
    """A stream's language tag as a BCP 47 one; "und" when it has none that is usable."""
    if not tag:
        return "und"
    tag = _THREE_LETTER.get(tag.lower(), tag)
    return tag if _LANGUAGE.match(tag) and len(tag) <= 35 else "und"


def source_caption_name(title: str | None, language: str, track: int) -> str:
    """The stream's title, else its language's name, else "Track N" (counted from 1)."""
    for candidate in (title, _NAMES.get(language.split("-")[0].lower())):
        if candidate:
            cleaned = " ".join(candidate.replace('"', "'").split())[:MAX_NAME_LENGTH]
            if cleaned:
                return cleaned
    return f"Track {track + 1}"
