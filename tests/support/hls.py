"""Reading back what a ladder's rung plays: its stream's timestamps; and what its
playlists break of the HLS authoring rules."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import av


@dataclass(frozen=True)
class Timestamps:
    """A stream's decode times, presentation times (sorted) and keyframes' presentation
    times, in ``time_base`` units."""

    dts: list[int]
    pts: list[int]
    keyframes: list[int]
    time_base: Fraction
    duration: int  # the last packet's duration


def timestamps(stream: bytes, kind: str = "video") -> Timestamps:
    with av.open(io.BytesIO(stream), mode="r") as container:
        chosen = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        packets = [p for p in container.demux(chosen) if p.pts is not None and p.dts is not None]
        time_base = Fraction(chosen.time_base or 1)
    return Timestamps(
        dts=[p.dts for p in packets if p.dts is not None],
        pts=sorted(p.pts for p in packets if p.pts is not None),
        keyframes=[p.pts for p in packets if p.is_keyframe and p.pts is not None],
        time_base=time_base,
        duration=packets[-1].duration or 0,
    )


# --- Apple's HLS authoring rules for I-frame playlists ----------------------------------

_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^",]*)')
_VIDEO_CODECS = ("avc1", "avc3", "hvc1", "hev1", "av01", "vp09")


def attributes(line: str) -> dict[str, str]:
    """A tag's attribute list (RFC 8216 4.2), quoted values unquoted."""
    return {k: v.strip('"') for k, v in _ATTRIBUTE.findall(line.partition(":")[2])}


def iframe_playlist_problems(
    master_text: str, iframe_texts: Mapping[str, str], *, vod: bool = True
) -> list[str]:
    """What the master playlist and its I-frame playlists (by the URI the master gives)
    break of the HLS authoring rules for I-frame playlists; empty when nothing."""
    lines = master_text.splitlines()
    variants = sum(1 for line in lines if line.startswith("#EXT-X-STREAM-INF:"))
    streams = [attributes(line) for line in lines if line.startswith("#EXT-X-I-FRAME-STREAM-INF:")]
    problems = []
    if len(streams) < min(variants, 2):
        problems.append(f"{len(streams)} I-frame streams for {variants} variants")
    for stream in streams:
        name = stream.get("URI", "an I-frame stream")
        missing = [a for a in ("BANDWIDTH", "CODECS", "RESOLUTION", "URI") if a not in stream]
        problems += [f"{name} has no {attribute}" for attribute in missing]
        problems += [f"{name} has {a}" for a in ("AUDIO", "FRAME-RATE") if a in stream]
        codecs = [c.strip() for c in stream.get("CODECS", "").split(",") if c.strip()]
        if any(not c.startswith(_VIDEO_CODECS) for c in codecs):
            problems.append(f"{name} lists a codec that is not video: {stream['CODECS']}")
        if "URI" in stream:
            text = iframe_texts.get(stream["URI"])
            if text is None:
                problems.append(f"{name} has no playlist")
            else:
                problems += [f"{name}: {p}" for p in _iframe_media_problems(text, vod)]
    return problems


def _iframe_media_problems(text: str, vod: bool) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    tags = {line.partition(":")[0] for line in lines if line.startswith("#")}
    problems = []
    if "#EXT-X-I-FRAMES-ONLY" not in tags:
        problems.append("no EXT-X-I-FRAMES-ONLY")
    version = next((int(v[15:]) for v in lines if v.startswith("#EXT-X-VERSION:")), 1)
    if version < 4:
        problems.append(f"version {version} is below the 4 that I-frames need")
    uris = [line for line in lines if not line.startswith("#")]
    fmp4 = any(not uri.split("?")[0].endswith(".ts") for uri in uris)
    if fmp4 and "#EXT-X-MAP" not in tags:
        problems.append("fMP4 segments without EXT-X-MAP")
    if "#EXT-X-MAP" in tags and version < 5:
        problems.append(f"version {version} is below the 5 that EXT-X-MAP needs here")
    if not uris:
        problems.append("no I-frames")
    target = next((int(v[22:]) for v in lines if v.startswith("#EXT-X-TARGETDURATION:")), None)
    if target is None:
        problems.append("no EXT-X-TARGETDURATION")
    problems += _entry_problems(lines, target)
    if vod and "#EXT-X-ENDLIST" not in tags:
        problems.append("a VOD playlist without EXT-X-ENDLIST")
    return problems


def _entry_problems(lines: list[str], target: int | None) -> list[str]:
    """Each entry has its EXTINF and its EXT-X-BYTERANGE, and fits the target duration."""
    problems = []
    duration: float | None = None
    byterange = False
    for line in lines:
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].partition(",")[0])
        elif line.startswith("#EXT-X-BYTERANGE:"):
            byterange = True
        elif not line.startswith("#"):
            if duration is None:
                problems.append(f"{line} has no EXTINF")
            elif target is not None and round(duration) > target:
                problems.append(f"{line} lasts {duration} s, past the target duration {target}")
            if not byterange:
                problems.append(f"{line} has no EXT-X-BYTERANGE")
            duration, byterange = None, False
    return problems
