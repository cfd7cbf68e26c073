"""The storage check: objects that nothing owns, and files that ready videos need and
storage lacks; with ``repair``, orphans removed and damaged videos queued to be encoded
again. The rules are ``domain.storage_audit``'s; this reads storage a page at a time and
the database one video at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vodstack import errors
from vodstack.clock import utc_now
from vodstack.domain.pictures import STORYBOARD_VTT
from vodstack.domain.playlist import MASTER_NAME
from vodstack.domain.storage_audit import (
    Holding,
    Need,
    caption_needs,
    describe_file,
    group_of,
    orphan,
    part_needs,
    parts_to_encode,
    playlist_uris,
    resolve,
    storyboard_uris,
    video_of,
)
from vodstack.domain.videos import Video, VideoStatus, output_prefix
from vodstack.ports import JobSignal, ObjectInfo, Storage, Stores

log = logging.getLogger(__name__)

_PLAYLIST_LIMIT = 4 * 1024 * 1024
_PAGE = 100


@dataclass
class OrphanFinding:
    """Objects nothing owns, that go as one: how many, how big, and how many were removed."""

    unit: str
    why: str
    objects: int = 0
    size: int = 0
    removed: int = 0

    def describe(self) -> str:
        count = f"{self.objects} object{'s' if self.objects != 1 else ''}"
        return f"orphan {self.unit}: {count}, {_size(self.size)}: {self.why}"


@dataclass
class DamagedVideo:
    """A ready video that storage lacks files of."""

    video_id: str
    missing: list[Need]
    source_missing: bool = False
    requeued: int = 0  # jobs queued again by a repair
    left: str | None = None  # why a repair could not requeue it, in words

    def describe(self) -> list[str]:
        lines = [f"video {self.video_id} is ready but {n.what} is missing" for n in self.missing]
        if self.source_missing:
            lines.append(f"video {self.video_id}: its original is missing too")
        return lines


@dataclass
class AuditReport:
    orphans: list[OrphanFinding] = field(default_factory=list)
    damaged: list[DamagedVideo] = field(default_factory=list)
    objects: int = 0  # how many objects were looked at
    videos: int = 0  # how many ready videos were checked
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not self.orphans and not self.damaged

    def to_json(self) -> dict[str, object]:
        return {
            "clean": self.clean,
            "repaired": self.repaired,
            "objects_checked": self.objects,
            "ready_videos_checked": self.videos,
            "orphans": [
                {
                    "prefix": o.unit,
                    "reason": o.why,
                    "objects": o.objects,
                    "bytes": o.size,
                    "removed": o.removed,
                }
                for o in self.orphans
            ],
            "damaged": [
                {
                    "video_id": d.video_id,
                    "missing": [{"key": n.key, "what": n.what, "part": n.part} for n in d.missing],
                    "source_missing": d.source_missing,
                    "requeued_jobs": d.requeued,
                    "not_requeued_because": d.left,
                }
                for d in self.damaged
            ],
        }


class StorageAudit:
    def __init__(
        self,
        storage: Storage,
        stores: Stores,
        signal: JobSignal,
        *,
        grace: timedelta,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._storage = storage
        self._stores = stores
        self._signal = signal
        self._grace = grace
        self._clock = clock

    async def run(self, repair: bool = False) -> AuditReport:
        report = AuditReport(repaired=repair)
        await self._orphans(report, repair)
        await self._damage(report, repair)
        return report

    # --- objects nothing owns ----------------------------------------------------------

    async def _orphans(self, report: AuditReport, repair: bool) -> None:
        """One pass over every object, one video's area at a time: the database is read
        after that area's objects were listed, so an object written meanwhile is never
        taken for an orphan; one written just before is spared by the grace."""
        found: dict[str, OrphanFinding] = {}
        group: str | None = None
        batch: list[ObjectInfo] = []
        async for info in self._storage.iterate(""):
            report.objects += 1
            if group_of(info.key) != group:
                await self._settle(group, batch, found, repair)
                group, batch = group_of(info.key), []
            batch.append(info)
        await self._settle(group, batch, found, repair)
        report.orphans = list(found.values())

    async def _settle(
        self,
        group: str | None,
        batch: list[ObjectInfo],
        found: dict[str, OrphanFinding],
        repair: bool,
    ) -> None:
        if group is None or not batch:
            return
        video_id = video_of(group)
        holding = None if video_id is None else await self.holding(video_id)
        spared = self._clock() - self._grace
        protected = _protected(holding)
        for info in batch:
            why = orphan(info.key, holding)
            if why is None or info.key in protected:
                continue
            if info.modified is not None and info.modified > spared:
                continue  # perhaps written just before its record: looked at next time
            finding = found.setdefault(why.unit, OrphanFinding(why.unit, why.why))
            finding.objects += 1
            finding.size += info.size
            if repair and await self._storage.delete(info.key):
                finding.removed += 1

    async def holding(self, video_id: str) -> Holding:
        """What the database says the video holds: the attempts in flight first, then what
        is published, so that one publishing in between is seen as one of the two."""
        in_flight = frozenset(await self._stores.jobs.in_flight(video_id))
        video = await self._stores.videos.get(video_id)
        if video is None:
            return Holding(video_id, None)
        found = await self._stores.videos.parts(video_id) if video.chunked else None
        captions = await self._stores.captions.list(video_id)
        return Holding(
            video_id,
            video.status,
            video.published_epoch,
            None if found is None else found[0],
            {} if found is None else found[1],
            in_flight,
            frozenset(c.id for c in captions),
        )

    # --- files ready videos need ---------------------------------------------------------

    async def _damage(self, report: AuditReport, repair: bool) -> None:
        after = ""
        while videos := await self._stores.videos.ready_after(after, _PAGE):
            for video in videos:
                report.videos += 1
                damaged = await self._check(video)
                if damaged is not None:
                    if repair:
                        await self._requeue(damaged)
                    report.damaged.append(damaged)
            after = videos[-1].id

    async def _check(self, video: Video) -> DamagedVideo | None:
        holding = await self.holding(video.id)
        if holding.status is not VideoStatus.READY or holding.published_epoch is None:
            return None  # it changed since it was listed
        root = output_prefix(video.id, holding.published_epoch)
        present = {i.key async for i in self._storage.iterate(root + "/")}
        present |= {i.key async for i in self._storage.iterate(f"captions/{video.id}/")}
        needs = caption_needs(video.id, holding.captions)
        if holding.plan is not None:
            needs += part_needs(holding)
        else:
            needs += await self._playlist_needs(root, present)
        missing = [n for n in needs if n.key not in present]
        # Confirmed one by one: a listing may miss what was written while it went on.
        missing = [n for n in missing if await self._storage.head(n.key) is None]
        if not missing:
            return None
        again = await self.holding(video.id)
        if (again.status, again.published_epoch) != (VideoStatus.READY, holding.published_epoch):
            return None
        source = await self._storage.head(video.source_key)
        return DamagedVideo(video.id, missing, source_missing=source is None)

    async def _playlist_needs(self, root: str, present: set[str]) -> list[Need]:
        """A video encoded in one piece: its stored master playlist, every playlist it
        names, every file those name, and the storyboard's sheets if it has one."""
        needs: dict[str, Need] = {}

        def need(key: str) -> None:
            needs.setdefault(key, Need(key, describe_file(key[len(root) + 1 :])))

        queue = [f"{root}/{MASTER_NAME}"]
        if f"{root}/{STORYBOARD_VTT}" in present:
            queue.append(f"{root}/{STORYBOARD_VTT}")
        while queue:
            key = queue.pop(0)
            need(key)
            if key not in present:
                continue
            text = await self._text(key)
            if text is None:
                continue
            uris = storyboard_uris(text) if key.endswith(".vtt") else playlist_uris(text)
            for uri in uris:
                named = resolve(root, key.rsplit("/", 1)[0], uri)
                if named is None or named in needs:
                    continue
                if named.endswith(".m3u8"):
                    queue.append(named)
                else:
                    need(named)
        return list(needs.values())

    async def _text(self, key: str) -> str | None:
        try:
            data = await self._storage.read_bytes(key, _PLAYLIST_LIMIT)
        except (errors.ObjectNotFound, errors.PayloadTooLarge):
            return None
        return data.decode("utf-8", errors="replace")

    async def _requeue(self, damaged: DamagedVideo) -> None:
        holding = await self.holding(damaged.video_id)
        parts = parts_to_encode(holding, damaged.missing)
        if parts is None:
            damaged.left = "only caption files are missing: remove each caption and add it again"
            return
        if damaged.source_missing:
            damaged.left = "its original is missing, so it cannot be encoded again"
            return
        reason = (
            "storage check: "
            + "; ".join(f"{n.what} is missing" for n in damaged.missing[:3])
            + ("; ..." if len(damaged.missing) > 3 else "")
        )
        damaged.requeued = await self._stores.jobs.reencode(damaged.video_id, parts, reason)
        for _ in range(damaged.requeued):
            await self._signal.send(damaged.video_id)


def _protected(holding: Holding | None) -> frozenset[str]:
    """What a playing split video lists, and its captions: never removed, whatever else
    the rules say (belt and braces)."""
    if holding is None or holding.status not in (VideoStatus.PLAYABLE, VideoStatus.READY):
        return frozenset()
    keys = {n.key for n in caption_needs(holding.video_id, holding.captions)}
    if holding.plan is not None and holding.published_epoch is not None:
        keys |= {n.key for n in part_needs(holding)}
    return frozenset(keys)


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    scaled = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GiB":
            break
    return f"{scaled:.1f} {unit}"
