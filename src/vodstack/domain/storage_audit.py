"""What object storage should hold, by the database's records: pure, no I/O.

Every object vodstack writes belongs to a video: its original (``sources/V/source``), its
captions (``captions/V/<caption>.vtt``) and each attempt's outputs (``outputs/V/e<epoch>/``;
a split video's parts write under its one output epoch, each attempt of a part in its own
folder under each rung's: ``720p/c3a2/``). An object is an orphan when no record accounts
for it: its video is gone, or it is an attempt's that was never published and that no
worker is still working on. A ready video is damaged when a file its playlists name is
missing.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vodstack.domain.captions import caption_key
from vodstack.domain.chunks import AUDIO, PartOutput, VideoPlan, attempt_folders, part_folder
from vodstack.domain.pictures import STORYBOARD
from vodstack.domain.videos import VideoStatus, output_prefix, source_key

AREAS = ("sources", "outputs", "captions")
_EPOCH = re.compile(r"e([0-9]{1,9})")


@dataclass(frozen=True, slots=True)
class Holding:
    """What the database says one video holds in storage. Read after its objects were
    listed, and what is in flight before what is published, so that an attempt that
    publishes meanwhile is seen as one or the other, never as neither."""

    video_id: str
    status: VideoStatus | None  # None: no such video
    published_epoch: int | None = None
    plan: VideoPlan | None = None  # a split video's
    outputs: Mapping[str, PartOutput] = field(default_factory=dict)
    # The attempts being worked on now: (part key, or "" for the video's own job, epoch).
    in_flight: frozenset[tuple[str, int]] = frozenset()
    captions: frozenset[str] = frozenset()

    @property
    def exists(self) -> bool:
        return self.status is not None


@dataclass(frozen=True, slots=True)
class Orphan:
    """Objects that nothing owns: a folder (ending in ``/``) that goes as one, or a single
    object; and why, in words."""

    unit: str
    why: str


def group_of(key: str) -> str:
    """The objects looked at together: one video's under one area, else the key alone."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[0] in AREAS and parts[1]:
        return f"{parts[0]}/{parts[1]}/"
    return key


def video_of(group: str) -> str | None:
    """The video a group is of, if any."""
    parts = group.split("/")
    return parts[1] if len(parts) == 3 and parts[0] in AREAS and not parts[2] else None


def orphan(key: str, holding: Holding | None) -> Orphan | None:
    """Why nothing owns ``key``, or None when something does. ``holding``: the records of
    the video whose area the key is in (None: it is in none)."""
    parts = key.split("/")
    if holding is None or len(parts) < 3 or parts[0] not in AREAS:
        return Orphan(key, "no video, upload or caption owns it")
    area, video_id = parts[0], parts[1]
    if not holding.exists:
        return Orphan(f"{area}/{video_id}/", f"video {video_id} no longer exists")
    if area == "sources":
        if key == source_key(video_id):
            return None
        return Orphan(key, f"not the original of video {video_id}")
    if area == "captions":
        caption = parts[2].removesuffix(".vtt")
        if key == caption_key(video_id, caption) and caption in holding.captions:
            return None
        return Orphan(key, f"video {video_id} has no such caption")
    return _output_orphan(key, parts, holding)


def _output_orphan(key: str, parts: list[str], holding: Holding) -> Orphan | None:
    video_id = holding.video_id
    found = _EPOCH.fullmatch(parts[2])
    if found is None or len(parts) < 4:
        return Orphan(key, f"not in any attempt's folder of video {video_id}")
    epoch = int(found[1])
    prefix = f"{output_prefix(video_id, epoch)}/"
    if epoch == holding.published_epoch:
        return _part_orphan(parts, holding, prefix) if holding.plan is not None else None
    if ("", epoch) in holding.in_flight:
        return None
    return Orphan(
        prefix, f"attempt {epoch} of video {video_id}, never published and no worker's now"
    )


def _part_orphan(parts: list[str], holding: Holding, prefix: str) -> Orphan | None:
    """Under a split video's output epoch: each part attempt's folder is kept while it is
    published or being worked on; anything else there (thumbnails made from the ladder)
    is kept with the video."""
    assert holding.plan is not None
    folders = {r.name for r in holding.plan.rungs} | {AUDIO, STORYBOARD}
    if len(parts) < 6 or parts[3] not in folders:
        return None
    folder, attempt = parts[3], parts[4]
    if (folder, attempt) in kept_attempts(holding):
        return None
    return Orphan(
        f"{prefix}{folder}/{attempt}/",
        f"an attempt of a part of video {holding.video_id}, never published and no worker's now",
    )


def kept_attempts(holding: Holding) -> frozenset[tuple[str, str]]:
    """(folder, attempt folder) of every part attempt a split video lists or is encoding."""
    kept = {(r.rung, r.folder) for o in holding.outputs.values() for r in o.rungs}
    kept |= {
        (STORYBOARD, t.sheet.partition("/")[0]) for o in holding.outputs.values() for t in o.tiles
    }
    if holding.plan is not None:
        keys = {p.key: p for p in holding.plan.parts}
        for part_key, epoch in holding.in_flight:
            spec = keys.get(part_key)
            if spec is not None:
                kept |= {(f, part_folder(spec, epoch)) for f in attempt_folders(spec)}
    return frozenset(kept)


# --- what a ready video needs ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Need:
    """One object a playing video needs: its key, what it is in words, and for a split
    video the part that made it (which alone is encoded again to restore it)."""

    key: str
    what: str
    part: str | None = None


def part_needs(holding: Holding) -> list[Need]:
    """Every file a split video's published parts list: init segments, segments, and the
    storyboard's sheets."""
    assert holding.published_epoch is not None
    prefix = output_prefix(holding.video_id, holding.published_epoch)
    needs: dict[str, Need] = {}
    for output in holding.outputs.values():
        for rung in output.rungs:
            names = [rung.init, *(s[0] for s in rung.segments)]
            for name in names:
                relative = f"{rung.rung}/{rung.folder}/{name}"
                needs[f"{prefix}/{relative}"] = Need(
                    f"{prefix}/{relative}", describe_file(relative), output.key
                )
        for tile in output.tiles:
            relative = f"{STORYBOARD}/{tile.sheet}"
            needs[f"{prefix}/{relative}"] = Need(
                f"{prefix}/{relative}", describe_file(relative), output.key
            )
    return list(needs.values())


def caption_needs(video_id: str, captions: Iterable[str]) -> list[Need]:
    return [Need(caption_key(video_id, c), f"the file of caption {c}") for c in sorted(captions)]


def playlist_uris(text: str) -> list[str]:
    """Every URI an HLS playlist names: its media lines, and ``URI="..."`` attributes (an
    init segment, an audio or I-frame playlist)."""
    found: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            found += re.findall(r'URI="([^"]*)"', line)
        elif line:
            found.append(line)
    return list(dict.fromkeys(found))


def storyboard_uris(text: str) -> list[str]:
    """The sheets a storyboard's WebVTT points at."""
    found = [line.partition("#xywh=")[0].strip() for line in text.splitlines() if "#xywh=" in line]
    return list(dict.fromkeys(u for u in found if u))


def resolve(root: str, folder: str, uri: str) -> str | None:
    """The key ``uri`` names, relative to ``folder`` under the epoch's folder ``root``;
    None for one outside storage (a URL, an absolute path) or one that climbs out of
    ``root``."""
    if "://" in uri or uri.startswith("/") or not uri:
        return None
    joined = posixpath.normpath(posixpath.join(folder, uri.partition("?")[0]))
    return joined if joined.startswith(root + "/") else None


def describe_file(relative: str) -> str:
    """A file of the ladder in words, by its path under the epoch's folder."""
    name = relative.rsplit("/", 1)[-1]
    if relative == "master.m3u8":
        return "the master playlist"
    if name.endswith(".m3u8"):
        return f"the playlist {relative}"
    if name.startswith("init"):
        return f"the init segment {relative}"
    if name.endswith(".jpg"):
        return f"the storyboard sheet {relative}"
    if name.endswith(".vtt"):
        return f"the storyboard {relative}"
    return f"the segment {relative}"


def parts_to_encode(holding: Holding, missing: Iterable[Need]) -> tuple[str, ...] | None:
    """What to encode again to restore ``missing``: a split video's parts that made the
    missing files, () for a whole video, or None when encoding cannot restore them (a
    caption file: the owner's upload is not kept anywhere else)."""
    ladder = [n for n in missing if not n.key.startswith("captions/")]
    if not ladder:
        return None
    if holding.plan is None:
        return ()
    return tuple(sorted({n.part for n in ladder if n.part is not None}))
