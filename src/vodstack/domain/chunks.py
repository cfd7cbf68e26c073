"""Chunk plans: how a source's timeline is cut into spans that workers encode apart, and how
a rung's playlist is stitched from its chunks' playlists. Pure, no I/O.

A chunk starts and ends on a whole number of segments (so on the keyframe grid too), and its
segments continue the numbering of the chunk before it: stitching is then concatenation.
The first chunk is short, so that it is done soon and the video can be played; the chunks
after it double in length up to ``longest``, because each chunk costs a process start, a
seek and an encoder lookahead that a longer chunk spreads over more seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vodstack.domain.ffmpeg_args import SEGMENT_SECONDS
from vodstack.domain.playlist import MediaPlaylist


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
) -> tuple[Chunk, ...]:
    """The chunks of a source ``duration`` seconds long: ``first`` seconds, then twice as
    long each time up to ``longest``. A source shorter than ``single_below`` is one chunk.
    A tail shorter than one segment joins the chunk before it, so that no chunk is only a
    fraction of a segment."""
    if not duration > 0:
        raise ValueError(f"a source to plan needs a duration, not {duration!r}")
    for name, seconds in (("first", first), ("longest", longest)):
        if seconds <= 0 or seconds % SEGMENT_SECONDS:
            raise ValueError(f"{name} must be a whole number of {SEGMENT_SECONDS} s segments")
    if longest < first:
        raise ValueError("the longest chunk cannot be shorter than the first")
    if duration < single_below:
        return (Chunk(0, 0.0, duration),)
    chunks: list[Chunk] = []
    start, length = 0, first
    while duration - (start + length) >= SEGMENT_SECONDS:
        chunks.append(Chunk(len(chunks), float(start), float(start + length)))
        start, length = start + length, min(longest, 2 * length)
    chunks.append(Chunk(len(chunks), float(start), duration))
    return tuple(chunks)


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
