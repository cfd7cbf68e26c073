"""Chunk plans: how a source's timeline is cut into spans that workers encode apart, and how
a rung's playlist is stitched from its chunks' playlists. Pure, no I/O.

A chunk starts and ends on a whole number of segments (so on the keyframe grid too), and its
segments continue the numbering of the chunk before it: stitching is then concatenation.
The first chunk is short, so that it is done soon and the video can be played; the chunks
after it double in length up to ``longest``, because each chunk costs a process start, a
seek and an encoder lookahead that a longer chunk spreads over more seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any

from vodstack.domain.grid import SEGMENT_SECONDS
from vodstack.domain.iframes import IFRAMES_NAME, IFrame, iframe_playlist, iframe_stream
from vodstack.domain.ladder import LATE_RUNG_ABOVE
from vodstack.domain.media import Rendition, Rung, SourceInfo
from vodstack.domain.pictures import (
    STORYBOARD,
    STORYBOARD_VTT,
    Tile,
    choose_cover,
    render_vtt,
    tile_interval,
)
from vodstack.domain.playlist import (
    AudioGroup,
    IFrameStream,
    MediaPlaylist,
    MediaSegment,
    master_playlist,
    measure_bandwidth,
)
from vodstack.domain.quality import (
    DEFAULT_MIN_VMAF,
    Receipt,
    RungMeasure,
    declare,
    judge,
    segment_bitrates,
)

# The shortest chunk that sharing a video among many slots cuts it into.
SHORTEST_SHARE_SECONDS = 2 * SEGMENT_SECONDS


@dataclass(frozen=True, slots=True)
class Chunk:
    """The span ``[start, end)`` of the source, in seconds; the last chunk ends where the
    source does."""

    index: int
    start: float
    end: float

    @property
    def first_segment(self) -> int:
        """The number of this chunk's first segment in the whole rung."""
        return round(self.start / SEGMENT_SECONDS)

    @property
    def duration(self) -> float:
        return self.end - self.start


def plan_chunks(
    duration: float,
    *,
    first: int = SEGMENT_SECONDS,
    longest: int = 10 * SEGMENT_SECONDS,
    single_below: float = 0.0,
    slots: int = 1,
    shortest: int = SHORTEST_SHARE_SECONDS,
) -> tuple[Chunk, ...]:
    """The chunks of a source ``duration`` seconds long: ``first`` seconds, then twice as
    long each time up to the longest that ``slots`` live job slots allow (see
    ``longest_for``). A source shorter than ``single_below`` is one chunk. A tail shorter
    than one segment joins the chunk before it, so that no chunk is only a fraction of a
    segment; where that would make the last chunk longer than the longest, the chunk
    before it gives up a segment instead."""
    if not duration > 0:
        raise ValueError(f"a source to plan needs a duration, not {duration!r}")
    for name, seconds in (("first", first), ("longest", longest), ("shortest", shortest)):
        if seconds <= 0 or seconds % SEGMENT_SECONDS:
            raise ValueError(f"{name} must be a whole number of {SEGMENT_SECONDS} s segments")
    if longest < first:
        raise ValueError("the longest chunk cannot be shorter than the first")
    if duration < single_below:
        return (Chunk(0, 0.0, duration),)
    longest = longest_for(duration, slots, first=first, longest=longest, shortest=shortest)
    chunks: list[Chunk] = []
    start, length = 0, first
    while duration - (start + length) >= SEGMENT_SECONDS or (
        duration - start > longest and length > SEGMENT_SECONDS
    ):
        if duration - (start + length) < SEGMENT_SECONDS:
            length -= SEGMENT_SECONDS  # the tail would join it and outgrow the longest
        chunks.append(Chunk(len(chunks), float(start), float(start + length)))
        start, length = start + length, min(longest, 2 * length)
    chunks.append(Chunk(len(chunks), float(start), duration))
    return tuple(chunks)


def longest_for(duration: float, slots: int, *, first: int, longest: int, shortest: int) -> int:
    """The longest chunk of a source ``duration`` seconds long that ``slots`` live job slots
    encode: at most each slot's share of it, cut down to whole segments, so that no slot is
    left idle while another finishes one long part; never below ``shortest`` (each chunk
    costs a process start, a seek and an encoder lookahead) nor ``first``, never above
    ``longest``. Not finer than that: with the second tier claimed longest chunk first,
    chunks of a share already end close together, and each chunk more costs CPU."""
    if slots <= 1:
        return longest
    share = int(duration / slots // SEGMENT_SECONDS) * SEGMENT_SECONDS
    return min(longest, max(first, shortest, share))


def stitch(parts: Sequence[MediaPlaylist], *, complete: bool) -> MediaPlaylist:
    """One rung's playlist from the playlists of its first chunks, in timeline order: their
    segments one after the other, under the first chunk's init segment (the caller checks
    that every chunk's init segment carries the same codec configuration). It ends, as a
    VOD playlist, only when ``complete``: until then players reload it as it grows."""
    if not parts:
        raise ValueError("a stitched playlist needs at least its first chunk")
    segments = tuple(s for part in parts for s in part.segments)
    names = [s.uri for s in segments]
    if len(set(names)) != len(names):
        raise ValueError("two chunks name the same segment; their numbering must continue")
    target = max(
        max(part.target_duration for part in parts),
        max((round(s.duration) for s in segments), default=0),
    )
    return MediaPlaylist(target, segments, parts[0].map_uri, ended=complete)


# --- a chunked video: its parts, what each part published, and the playlists they make ----

AUDIO = "audio"  # the audio part's key, and its rendition's folder
# Tier 2 parts rank after every tier 1 part of every video: the low rungs of the whole
# video are encoded first, so an early viewer never waits for a high rung.
_TIER_RANK = 100_000


class PartKind(StrEnum):
    CHUNK = "chunk"  # one span of the video, some of its rungs, one decode
    AUDIO = "audio"  # the whole video's audio, encoded once, published as it goes


@dataclass(frozen=True, slots=True)
class PartSpec:
    """One unit of work of a chunked video, which any worker may lease."""

    kind: PartKind
    index: int  # the chunk's index; 0 for the audio
    tier: int  # 1: the rungs that make the video playable; 2: the rest
    start: float
    end: float
    rungs: tuple[str, ...]  # the rung names it encodes; ("audio",) for the audio

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def key(self) -> str:
        """Unique within its video: ``c3t1`` (chunk 3, tier 1) or ``audio``."""
        return AUDIO if self.kind is PartKind.AUDIO else f"c{self.index}t{self.tier}"

    @property
    def rank(self) -> int:
        """Workers claim the lowest rank first, whichever video it is of: so the first
        chunks of a new video go before the later chunks of an old one."""
        # The audio right after the first chunk: its first segment, a second in, is what
        # the video still needs to play, however long the rest of the audio takes.
        if self.kind is PartKind.AUDIO:
            return 1
        if self.tier == 1:
            return 2 * self.index
        # A later tier is listed only once all of it is in, so its order matters only to
        # when it is whole: longest first leaves the least for the last worker to finish.
        # Each later tier after the one before it: 1080p is whole before 2160p begins.
        return _TIER_RANK * (self.tier - 1) + max(0, _TIER_RANK - round(self.duration * 10))

    def describe(self) -> str:
        if self.kind is PartKind.AUDIO:
            return "the audio"
        return f"chunk {self.index} ({self.start:g}-{self.end:g} s) at {'+'.join(self.rungs)}"


@dataclass(frozen=True, slots=True)
class VideoPlan:
    """How a probed source is encoded in parts: decided once, by the worker that probed
    it, and kept with the job so that every part's worker encodes to the same ladder."""

    source: SourceInfo
    rungs: tuple[Rung, ...]
    frame_rate: Fraction
    parts: tuple[PartSpec, ...]
    source_sha256: str | None = None  # for the receipt: what was encoded
    min_vmaf: float = DEFAULT_MIN_VMAF  # the receipt's floor, the same for every part

    @property
    def duration(self) -> float:
        return self.source.duration

    def part(self, key: str) -> PartSpec:
        for part in self.parts:
            if part.key == key:
                return part
        raise KeyError(f"the plan has no part {key!r}")

    def rung(self, name: str) -> Rung:
        return next(r for r in self.rungs if r.name == name)

    @property
    def tiers(self) -> tuple[tuple[str, ...], ...]:
        found = {p.tier: p.rungs for p in self.parts if p.kind is PartKind.CHUNK}
        return tuple(found[tier] for tier in sorted(found))

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source.to_json(),
            "rungs": [dataclasses.asdict(r) for r in self.rungs],
            "frame_rate": str(self.frame_rate),
            "parts": [
                [p.kind.value, p.index, p.tier, p.start, p.end, list(p.rungs)] for p in self.parts
            ],
            "source_sha256": self.source_sha256,
            "min_vmaf": self.min_vmaf,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoPlan:
        return cls(
            source=SourceInfo.from_json(data["source"]),
            rungs=tuple(Rung(**r) for r in data["rungs"]),
            frame_rate=Fraction(data["frame_rate"]),
            parts=tuple(
                PartSpec(PartKind(kind), index, tier, start, end, tuple(rungs))
                for kind, index, tier, start, end, rungs in data["parts"]
            ),
            source_sha256=data.get("source_sha256"),
            min_vmaf=data.get("min_vmaf", DEFAULT_MIN_VMAF),
        )


def part_folder(part: PartSpec, epoch: int) -> str:
    """The folder, under each of its rungs' own, where one attempt of ``part`` writes:
    ``c3a2`` is chunk 3's second attempt, ``a1`` the audio's first."""
    return f"a{epoch}" if part.kind is PartKind.AUDIO else f"c{part.index}a{epoch}"


def attempt_folders(part: PartSpec) -> tuple[str, ...]:
    """The folders a part's attempt writes a sub-folder of: its rungs', and a chunk's
    storyboard's (a chunk of a rung without a storyboard leaves it empty)."""
    return part.rungs if part.kind is PartKind.AUDIO else (*part.rungs, STORYBOARD)


def describe_plan(plan: VideoPlan) -> str:
    """The plan in one line of the job's timeline."""
    chunks = sorted({(p.start, p.end) for p in plan.parts if p.kind is PartKind.CHUNK})
    spans = ", ".join(f"{a:g}-{b:g} s" for a, b in chunks[:4]) + (
        ", ..." if len(chunks) > 4 else ""
    )
    tiers = " first, then ".join("+".join(t) for t in plan.tiers)
    audio = "; the audio once" if plan.source.has_audio else ""
    return f"{len(plan.parts)} parts: {len(chunks)} chunks ({spans}) at {tiers}{audio}"


def split_tiers(
    rungs: Sequence[Rung], first_tier_height: int, late_above: int = LATE_RUNG_ABOVE
) -> tuple[tuple[Rung, ...], ...]:
    """The rungs whose short side is at most ``first_tier_height`` come first (at least the
    smallest rung), then the others up to ``late_above`` (0: all those in one tier), and
    the rungs above it last: they cost the most to encode and the fewest players pick them."""
    ordered = sorted(rungs, key=_short_side)
    late = [r for r in ordered if _short_side(r) > late_above]
    rest = [r for r in ordered if r not in late]
    if not rest:
        return (tuple(ordered),)
    low = [r for r in rest if _short_side(r) <= first_tier_height] or rest[:1]
    high = [r for r in rest if r not in low]
    tiers = [low, high] if first_tier_height > 0 and high else [rest]
    return tuple(tuple(tier) for tier in [*tiers, late] if tier)


def _short_side(rung: Rung) -> int:
    return min(rung.width, rung.height)


def plan_video(
    source: SourceInfo,
    rungs: Sequence[Rung],
    frame_rate: Fraction,
    *,
    first: int = SEGMENT_SECONDS,
    longest: int = 10 * SEGMENT_SECONDS,
    single_below: float = 0.0,
    first_tier_height: int = 480,
    slots: int = 1,
    shortest: int = SHORTEST_SHARE_SECONDS,
) -> VideoPlan | None:
    """The parts of ``source``, or None when it is one chunk: then one process encodes
    its video and audio together, which is cheapest for a short video. A short video
    with rungs above 1080p is still split, in one chunk, so that those rungs come after
    the others. A source with stills is one piece: a chunk that began inside a still
    would have no picture to start from. ``slots``: the live job slots that will share the
    parts (see ``plan_chunks``)."""
    chunks = plan_chunks(
        source.duration,
        first=first,
        longest=longest,
        single_below=single_below,
        slots=slots,
        shortest=shortest,
    )
    late = any(_short_side(r) > LATE_RUNG_ABOVE for r in rungs)
    if (len(chunks) == 1 and not late) or source.stills:
        return None
    if len(chunks) == 1:
        first_tier_height = 0  # one chunk: every rung up to 1080p from the same decode
    parts: list[PartSpec] = []
    if source.has_audio:
        parts.append(PartSpec(PartKind.AUDIO, 0, 1, 0.0, source.duration, (AUDIO,)))
    for tier, tier_rungs in enumerate(split_tiers(rungs, first_tier_height), start=1):
        names = tuple(r.name for r in sorted(tier_rungs, key=lambda r: -r.height * r.width))
        parts += [PartSpec(PartKind.CHUNK, c.index, tier, c.start, c.end, names) for c in chunks]
    return VideoPlan(source, tuple(rungs), frame_rate, tuple(parts))


@dataclass(frozen=True, slots=True)
class RungOutput:
    """One rendition's share of a part: where its files are (a folder under the rung's own,
    named after the part's attempt, so a stale worker's files are never the ones listed),
    and each segment with its duration and size, and where its first frame is, which
    the rung's I-frame playlist names (none for the audio, nor in what older versions
    published: such a rung has no I-frame playlist)."""

    rung: str
    folder: str  # e.g. "c3a2", under "720p/"
    init: str
    init_digest: str  # sha256 of the init segment: every chunk of a rung writes the same
    codecs: str
    target_duration: int
    segments: tuple[tuple[str, float, int], ...]  # (file name, seconds, bytes)
    iframes: tuple[tuple[int, int], ...] = ()  # per segment, (offset, length) in it
    # The quality receipt's sampled frames of this share (``domain.quality``).
    vmaf: tuple[float, ...] = ()
    psnr: tuple[float, ...] = ()

    def playlist(self) -> MediaPlaylist:
        """As the rung's playlist, relative to the rung's folder."""
        return MediaPlaylist(
            self.target_duration,
            tuple(
                MediaSegment(f"{self.folder}/{name}", seconds) for name, seconds, _ in self.segments
            ),
            f"{self.folder}/{self.init}",
        )

    def iframe_list(self) -> list[IFrame] | None:
        """Its segments' first frames, relative to the rung's folder; None if not known."""
        if len(self.iframes) != len(self.segments) or not self.segments:
            return None
        return [
            IFrame(f"{self.folder}/{name}", seconds, offset, length)
            for (name, seconds, _), (offset, length) in zip(
                self.segments, self.iframes, strict=True
            )
        ]


@dataclass(frozen=True, slots=True)
class PartOutput:
    """What a part published; ``complete`` is False while the audio is still encoding."""

    key: str
    rungs: tuple[RungOutput, ...]
    complete: bool = True
    encoder: str | None = None
    # Its span's storyboard tiles (a chunk of the lowest rung's only), their sheets
    # relative to the storyboard's folder: ``c3a2/sheet_000.jpg``.
    tiles: tuple[Tile, ...] = ()
    # For the receipt: its command line (the first chunk's of each tier, and the audio's:
    # the others differ only in their span), its ffmpeg, and what it cost.
    command: str | None = None
    ffmpeg_version: str | None = None
    encode_seconds: float = 0.0
    measure_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "complete": self.complete,
            "encoder": self.encoder,
            "rungs": [dataclasses.asdict(r) for r in self.rungs],
            "tiles": [t.to_json() for t in self.tiles],
            "command": self.command,
            "ffmpeg_version": self.ffmpeg_version,
            "encode_seconds": self.encode_seconds,
            "measure_seconds": self.measure_seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartOutput:
        rungs = tuple(
            RungOutput(
                **{
                    **r,
                    "segments": tuple(tuple(s) for s in r["segments"]),
                    "iframes": tuple(tuple(i) for i in r.get("iframes", ())),
                    "vmaf": tuple(r.get("vmaf", ())),
                    "psnr": tuple(r.get("psnr", ())),
                }
            )
            for r in data["rungs"]
        )
        tiles = tuple(Tile.from_json(t) for t in data.get("tiles", ()))
        return cls(
            data["key"],
            rungs,
            data["complete"],
            data.get("encoder"),
            tiles,
            data.get("command"),
            data.get("ffmpeg_version"),
            data.get("encode_seconds", 0.0),
            data.get("measure_seconds", 0.0),
        )

    @property
    def seconds(self) -> float:
        return max((sum(s[1] for s in r.segments) for r in self.rungs), default=0.0)


def replaces(new: PartOutput, old: PartOutput | None) -> bool:
    """Whether ``new`` is listed instead of ``old``: a part's audio that another attempt
    began is listed as that attempt left it until this one has gone as far, so what
    players were given never shrinks."""
    return new.complete or old is None or new.seconds >= old.seconds


@dataclass(frozen=True, slots=True)
class Assembly:
    """Where a chunked video stands: whether it plays, whether it is done, its playlists
    (relative path to text) and the renditions its master playlist lists."""

    playable: bool
    complete: bool
    playlists: dict[str, str]
    renditions: tuple[Rendition, ...]
    pending: tuple[str, ...]  # rungs not listed yet
    done: float  # the share of the work published, by pixels times seconds
    # The poster's frame chosen from the storyboard's tiles so far; None before any.
    cover_time: float | None = None
    receipt: Receipt | None = None  # once complete


def assemble(plan: VideoPlan, outputs: Mapping[str, PartOutput]) -> Assembly:
    """The playlists of what is published. A rung is listed once its first chunk is in
    when it is of the first tier, and only when all of it is in otherwise: a player reads
    the master playlist once, and must never be sent to a rung that stops short. Rung
    playlists hold each rung's chunks up to the first one missing; they end (VOD, ENDLIST)
    when every chunk is in."""
    audio = outputs.get(AUDIO)
    audio_output = audio.rungs[0] if audio is not None and audio.rungs else None
    playlists: dict[str, str] = {}
    renditions: list[Rendition] = []
    iframes: list[IFrameStream] = []
    pending: list[str] = []
    for tier, names in enumerate(plan.tiers, start=1):
        for name in names:
            found = _rung_parts(plan, name, outputs)
            complete = len(found) == sum(1 for p in plan.parts if name in p.rungs)
            if not found or (tier > 1 and not complete):
                pending.append(name)
                continue
            stitched = stitch([o.playlist() for o in found], complete=complete)
            playlists[f"{name}/index.m3u8"] = stitched.render()
            renditions.append(_rendition(plan, plan.rung(name), found, audio_output))
            trick = _iframes(plan.rung(name), found, complete)
            if trick is not None:
                playlists[f"{name}/{IFRAMES_NAME}"], stream = trick
                iframes.append(stream)
    needs_audio = plan.source.has_audio
    if audio_output is not None:
        playlists[f"{AUDIO}/index.m3u8"] = stitch(
            [audio_output.playlist()], complete=bool(audio and audio.complete)
        ).render()
    heard = audio_output is not None and bool(audio_output.segments)
    playable = bool(renditions) and (heard or not needs_audio)
    if playable:
        playlists["master.m3u8"] = master_playlist(
            renditions, audio=_AUDIO_GROUP if needs_audio else None, iframes=iframes
        ).render()
    complete = all(p.key in outputs and outputs[p.key].complete for p in plan.parts)
    tiles = [t for o in outputs.values() if o.complete for t in o.tiles]
    if tiles:
        playlists[STORYBOARD_VTT] = render_vtt(tiles, tile_interval(plan.duration), plan.duration)
    return Assembly(
        playable,
        complete,
        playlists,
        tuple(renditions),
        tuple(pending),
        _done(plan, outputs),
        choose_cover(tiles, plan.duration),
        assembled_receipt(plan, outputs, renditions) if complete else None,
    )


def assembled_receipt(
    plan: VideoPlan, outputs: Mapping[str, PartOutput], renditions: Sequence[Rendition]
) -> Receipt:
    """The receipt of a video whose parts are all in: each listed rung's chunks stitched,
    their sampled frames together, held to the rules every part was held to, and its
    declared bandwidth (video and audio) against what its segments and the audio's
    measure."""
    audio = outputs.get(AUDIO)
    audio_rates = None
    if audio is not None and audio.rungs and audio.rungs[0].segments:
        audio_rates = segment_bitrates([(s, n) for _, s, n in audio.rungs[0].segments])
    measures = []
    for rendition in renditions:
        found = _rung_parts(plan, rendition.name, outputs)
        measures.append(
            RungMeasure(
                rendition.name,
                tuple((seconds, size) for o in found for _, seconds, size in o.segments),
                all(o.iframe_list() is not None for o in found),
                tuple(v for o in found for v in o.vmaf),
                tuple(v for o in found for v in o.psnr),
            )
        )
    declared = [declare(r, plan.rung(r.name)) for r in renditions]
    ordered = [outputs[p.key] for p in sorted(plan.parts, key=lambda p: p.rank) if p.key in outputs]
    versions = sorted({o.ffmpeg_version for o in ordered if o.ffmpeg_version})
    return Receipt(
        judge(measures, declared, plan.min_vmaf, audio_rates),
        "; ".join(versions) or "unknown",
        "\n".join(o.command for o in ordered if o.command),
        plan.source_sha256,
        round(sum(o.encode_seconds for o in ordered), 3),
        round(sum(o.measure_seconds for o in ordered), 3),
        plan.min_vmaf,
    )


def _rung_parts(plan: VideoPlan, name: str, outputs: Mapping[str, PartOutput]) -> list[RungOutput]:
    """The rung's outputs of its chunks in order, up to the first chunk not published."""
    found: list[RungOutput] = []
    for part in sorted((p for p in plan.parts if name in p.rungs), key=lambda p: p.index):
        output = outputs.get(part.key)
        if output is None or not output.complete:
            break
        found += [r for r in output.rungs if r.rung == name]
    return found


def _rendition(
    plan: VideoPlan, rung: Rung, found: Sequence[RungOutput], audio: RungOutput | None
) -> Rendition:
    sizes = [(seconds, size) for output in found for _, seconds, size in output.segments]
    target = max(o.target_duration for o in found)
    peak, average = measure_bandwidth(sizes, target)
    codecs = found[0].codecs
    if audio is not None and audio.segments:
        audio_peak, audio_average = measure_bandwidth(
            [(s, n) for _, s, n in audio.segments], target
        )
        peak, average = peak + audio_peak, average + audio_average
        codecs = f"{codecs},{audio.codecs}"
    return Rendition(
        name=rung.name,
        width=rung.width,
        height=rung.height,
        bandwidth=peak,
        average_bandwidth=average,
        codecs=codecs,
        frame_rate=float(plan.frame_rate),
        playlist=f"{rung.name}/index.m3u8",
    )


def _iframes(
    rung: Rung, found: Sequence[RungOutput], complete: bool
) -> tuple[str, IFrameStream] | None:
    """The rung's I-frame playlist and its master entry, if every chunk so far says where
    its segments' first frames are."""
    frames: list[IFrame] = []
    for output in found:
        listed = output.iframe_list()
        if listed is None:
            return None
        frames += listed
    text = iframe_playlist(f"{found[0].folder}/{found[0].init}", frames, ended=complete)
    uri = f"{rung.name}/{IFRAMES_NAME}"
    return text, iframe_stream(uri, frames, found[0].codecs, (rung.width, rung.height))


def _done(plan: VideoPlan, outputs: Mapping[str, PartOutput]) -> float:
    """Published work over all the work, weighing each part by its pixels and seconds
    (the audio counts as one small rung): roughly how the encoding time is spent."""

    def cost(part: PartSpec) -> float:
        if part.kind is PartKind.AUDIO:
            return part.duration * 240 * 426
        return part.duration * sum(plan.rung(n).width * plan.rung(n).height for n in part.rungs)

    total = sum(cost(p) for p in plan.parts)
    done = 0.0
    for part in plan.parts:
        output = outputs.get(part.key)
        if output is not None:
            share = 1.0 if output.complete else min(1.0, output.seconds / max(part.duration, 1e-9))
            done += cost(part) * share
    return done / total if total else 0.0


_AUDIO_GROUP = AudioGroup(group_id="audio", name="Audio", uri=f"{AUDIO}/index.m3u8")
