"""The storage check: which objects nothing owns, which files ready videos lack, and what a
repair does, on the in-memory stores and storage."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tests.support.db import add_queued_video
from tests.support.parts import part_output, split_plan
from vodstack.adapters.part_signing import PartSigner
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.adapters.stores_memory import memory_stores
from vodstack.clock import utc_now
from vodstack.domain.chunks import PartOutput
from vodstack.domain.storage_audit import (
    Holding,
    Need,
    group_of,
    orphan,
    parts_to_encode,
    playlist_uris,
    resolve,
    storyboard_uris,
    video_of,
)
from vodstack.domain.videos import VideoStatus, source_key
from vodstack.ports import Stores
from vodstack.services.storage_audit import StorageAudit

V = "a" * 32
PLAN = split_plan()

MASTER = """#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="audio",URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1000,AUDIO="aud"
720p/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,URI="720p/iframes.m3u8"
"""
RUNG = """#EXTM3U
#EXT-X-TARGETDURATION:6
#EXT-X-MAP:URI="init.mp4"
#EXTINF:6.0,
seg_00000.m4s
#EXTINF:2.0,
seg_00001.m4s
#EXT-X-ENDLIST
"""


def test_keys_outside_any_video_are_orphans_each_alone() -> None:
    for key in ("stray.bin", "junk/file", "sources/x", "thumbs/a/b"):
        found = orphan(key, None)
        assert found is not None
        assert found.unit == key
    assert group_of("outputs/v1/e1/720p/seg.m4s") == "outputs/v1/"
    assert video_of("outputs/v1/") == "v1"
    assert video_of(group_of("junk/file")) is None


def test_a_gone_video_leaves_its_whole_area_to_remove() -> None:
    found = orphan(f"outputs/{V}/e3/720p/seg_1.m4s", Holding(V, None))
    assert found is not None
    assert found.unit == f"outputs/{V}/"
    assert "no longer exists" in found.why


def test_what_a_one_piece_video_owns() -> None:
    video = Holding(
        V,
        VideoStatus.READY,
        published_epoch=2,
        in_flight=frozenset({("", 5)}),
        captions=frozenset({"c1"}),
    )
    owned = [
        source_key(V),
        f"captions/{V}/c1.vtt",
        f"outputs/{V}/e2/master.m3u8",
        f"outputs/{V}/e2/thumbnails/w320/t0.jpg",
        f"outputs/{V}/e5/720p/seg_1.m4s",  # in flight now
    ]
    assert [orphan(k, video) for k in owned] == [None] * len(owned)
    old = orphan(f"outputs/{V}/e1/720p/seg_1.m4s", video)
    assert old is not None
    assert old.unit == f"outputs/{V}/e1/"
    for key in (f"captions/{V}/c2.vtt", f"sources/{V}/other", f"outputs/{V}/stray"):
        found = orphan(key, video)
        assert found is not None
        assert found.unit == key


def _split(outputs: dict[str, PartOutput], in_flight: set[tuple[str, int]]) -> Holding:
    return Holding(V, VideoStatus.PLAYABLE, 1, PLAN, outputs, frozenset(in_flight))


def test_what_a_split_video_owns_attempt_by_attempt() -> None:
    published = {"c0t1": part_output(PLAN, "c0t1", attempt=2)}
    video = _split(published, {("c1t1", 3)})
    rung = PLAN.part("c0t1").rungs[0]
    prefix = f"outputs/{V}/e1"
    assert orphan(f"{prefix}/{rung}/c0a2/seg_00000.m4s", video) is None
    assert orphan(f"{prefix}/{rung}/c1a3/seg_00001.m4s", video) is None, "in flight"
    assert orphan(f"{prefix}/storyboard/c1a3/sheet_000.jpg", video) is None, "in flight"
    assert orphan(f"{prefix}/thumbnails/w320/t0.jpg", video) is None
    stale = orphan(f"{prefix}/{rung}/c0a1/seg_00000.m4s", video)
    assert stale is not None
    assert stale.unit == f"{prefix}/{rung}/c0a1/"
    never = orphan(f"{prefix}/{rung}/c1a2/seg_00001.m4s", video)
    assert never is not None
    assert never.unit == f"{prefix}/{rung}/c1a2/"
    other_epoch = orphan(f"outputs/{V}/e4/x", video)
    assert other_epoch is not None
    assert other_epoch.unit == f"outputs/{V}/e4/"


def test_the_files_a_playlist_names() -> None:
    assert playlist_uris(MASTER) == ["audio/index.m3u8", "720p/index.m3u8", "720p/iframes.m3u8"]
    assert playlist_uris(RUNG) == ["init.mp4", "seg_00000.m4s", "seg_00001.m4s"]
    vtt = "WEBVTT\n\n00:00.000 --> 00:02.000\nc0a1/sheet_000.jpg#xywh=0,0,160,90\n"
    assert storyboard_uris(vtt) == ["c0a1/sheet_000.jpg"]
    root = f"outputs/{V}/e2"
    assert resolve(root, f"{root}/720p", "seg_1.m4s?x=1") == f"{root}/720p/seg_1.m4s"
    assert resolve(root, f"{root}/720p", "../../e1/seg.m4s") is None
    assert resolve(root, root, "https://cdn.example.com/seg.m4s") is None
    assert resolve(root, root, "/v1/videos/x") is None


def test_what_a_repair_encodes_again() -> None:
    one_piece = Holding(V, VideoStatus.READY, 2)
    split = _split({}, set())
    segment = Need("outputs/x", "the segment", "c2t1")
    caption = Need(f"captions/{V}/c1.vtt", "caption")
    assert parts_to_encode(one_piece, [segment]) == ()
    assert parts_to_encode(split, [segment, dataclasses.replace(segment, part="audio")]) == (
        "audio",
        "c2t1",
    )
    assert parts_to_encode(one_piece, [caption]) is None


class Signals:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, video_id: str) -> None:
        self.sent.append(video_id)


@pytest.fixture
def stores() -> Stores:
    return memory_stores()


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage(PartSigner(b"k", "http://testserver"))


async def _ready_one_piece(stores: Stores, storage: MemoryStorage) -> tuple[str, str]:
    video_id = await add_queued_video(stores, utc_now())
    storage.objects[source_key(video_id)] = b"source"
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    root = f"outputs/{video_id}/e{lease.epoch}"
    storage.objects[f"{root}/master.m3u8"] = MASTER.encode()
    for rung in ("720p", "audio"):
        storage.objects[f"{root}/{rung}/index.m3u8"] = RUNG.encode()
        for name in ("init.mp4", "seg_00000.m4s", "seg_00001.m4s"):
            storage.objects[f"{root}/{rung}/{name}"] = b"media"
    storage.objects[f"{root}/720p/iframes.m3u8"] = RUNG.encode()
    assert await stores.jobs.publish(lease, [{"name": "720p"}], 8.0, "libx264")
    return video_id, root


def _audit(
    stores: Stores, storage: MemoryStorage, signals: Signals, grace: float = 0
) -> StorageAudit:
    return StorageAudit(storage, stores, signals, grace=timedelta(seconds=grace))


async def test_a_clean_storage_has_nothing_to_say(stores: Stores, storage: MemoryStorage) -> None:
    await _ready_one_piece(stores, storage)
    report = await _audit(stores, storage, Signals()).run()
    assert report.clean
    assert (report.objects, report.videos) == (len(storage.objects), 1)


async def test_orphans_and_a_damaged_video_are_found_then_repaired(
    stores: Stores, storage: MemoryStorage
) -> None:
    video_id, root = await _ready_one_piece(stores, storage)
    zombie = f"outputs/{video_id}/e7/720p/seg_00000.m4s"
    stray = "stray/file.bin"
    storage.objects |= {zombie: b"z" * 10, stray: b"s", f"outputs/{'b' * 32}/e1/x": b"gone"}
    del storage.objects[f"{root}/720p/seg_00001.m4s"]
    signals = Signals()
    report = await _audit(stores, storage, signals).run()
    assert sorted(o.unit for o in report.orphans) == sorted(
        [f"outputs/{video_id}/e7/", stray, f"outputs/{'b' * 32}/"]
    )
    (damaged,) = report.damaged
    assert [n.key for n in damaged.missing] == [f"{root}/720p/seg_00001.m4s"]
    assert damaged.describe() == [
        f"video {video_id} is ready but the segment 720p/seg_00001.m4s is missing"
    ]
    assert storage.objects.get(zombie) is not None, "a check alone removes nothing"
    assert signals.sent == []

    repaired = await _audit(stores, storage, signals).run(repair=True)
    assert [o.removed for o in repaired.orphans] == [o.objects for o in repaired.orphans]
    assert zombie not in storage.objects
    assert stray not in storage.objects
    assert f"{root}/master.m3u8" in storage.objects, "the published files stay"
    assert repaired.damaged[0].requeued == 1
    assert signals.sent == [video_id]
    video = await stores.videos.get(video_id)
    assert video is not None
    assert video.status is VideoStatus.QUEUED
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    assert lease.epoch == 2


async def test_new_objects_and_attempts_in_flight_are_spared(
    stores: Stores, storage: MemoryStorage
) -> None:
    video_id = await add_queued_video(stores, utc_now())
    storage.objects[source_key(video_id)] = b"source"
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None
    storage.objects[f"outputs/{video_id}/e{lease.epoch}/720p/seg_00000.m4s"] = b"being written"
    storage.objects["stray"] = b"new"
    storage.written["stray"] = utc_now()
    report = await _audit(stores, storage, Signals(), grace=3600).run(repair=True)
    assert report.clean
    assert "stray" in storage.objects


async def test_a_split_video_that_lost_a_segment_encodes_that_part_again(
    stores: Stores, storage: MemoryStorage
) -> None:
    video_id = await add_queued_video(stores, utc_now())
    storage.objects[source_key(video_id)] = b"source"
    parent = await stores.jobs.claim("planner", video_id)
    assert parent is not None
    assert await stores.jobs.split(parent, PLAN)
    root = f"outputs/{video_id}/e{parent.epoch}"
    while (lease := await stores.jobs.claim("w", video_id)) is not None:
        assert lease.part is not None
        output = part_output(PLAN, lease.part)
        for rung in output.rungs:
            for name in (rung.init, *(s[0] for s in rung.segments)):
                storage.objects[f"{root}/{rung.rung}/{rung.folder}/{name}"] = b"media"
        assert await stores.jobs.publish_part(lease, output)
    lost = next(k for k in storage.objects if "/c1a1/" in k and k.endswith(".m4s"))
    del storage.objects[lost]
    storage.objects[f"{root}/480p/c1a9/seg_00001.m4s"] = b"a zombie's"
    signals = Signals()
    report = await _audit(stores, storage, signals).run(repair=True)
    assert [o.unit for o in report.orphans] == [f"{root}/480p/c1a9/"]
    (damaged,) = report.damaged
    assert [n.key for n in damaged.missing] == [lost]
    lost_parts = {p.key for p in PLAN.parts if p.index == 1 and lost.split("/")[3] in p.rungs}
    assert damaged.requeued == len(lost_parts) == len(signals.sent)
    leases = []
    while (lease := await stores.jobs.claim("w", video_id)) is not None:
        leases.append(lease.part)
    assert set(leases) == lost_parts
