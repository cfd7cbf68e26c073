"""One contract, every caption store: a video's text tracks, the owner's and its source's,
each change a new version of the video, and none outliving it."""

from __future__ import annotations

from datetime import datetime

from tests.contract.conftest import LEASE, FakeClock
from tests.support.db import add_queued_video
from vodstack.domain.captions import Caption, CaptionOrigin
from vodstack.ports import Stores


def _caption(
    video_id: str, n: int, at: datetime, origin: CaptionOrigin = CaptionOrigin.UPLOAD
) -> Caption:
    return Caption(f"c{n:031x}", video_id, "en", f"Track {n}", origin, at)


async def test_captions_are_listed_oldest_first_and_each_change_bumps_the_video(
    stores: Stores, clock: FakeClock
) -> None:
    video_id = await add_queued_video(stores, clock.now)
    other = await add_queued_video(stores, clock.now)
    clock.advance(1)
    assert await stores.captions.add(_caption(video_id, 2, clock.now))
    clock.advance(1)
    assert await stores.captions.add(_caption(video_id, 1, clock.now))
    assert await stores.captions.add(_caption(other, 3, clock.now))
    listed = await stores.captions.list(video_id)
    assert [c.id for c in listed] == [f"c{2:031x}", f"c{1:031x}"]
    assert listed[0] == _caption(video_id, 2, clock.now.replace(second=1))
    video = await stores.videos.get(video_id)
    assert video is not None
    assert video.updated_at == clock.now

    clock.advance(1)
    assert await stores.captions.remove(video_id, f"c{2:031x}", clock.now)
    assert not await stores.captions.remove(video_id, f"c{2:031x}", clock.now)
    assert not await stores.captions.remove(video_id, f"c{3:031x}", clock.now)  # another's
    assert [c.id for c in await stores.captions.list(video_id)] == [f"c{1:031x}"]
    video = await stores.videos.get(video_id)
    assert video is not None
    assert video.updated_at == clock.now


async def test_a_missing_video_gets_no_caption(stores: Stores, clock: FakeClock) -> None:
    assert not await stores.captions.add(_caption("9" * 32, 1, clock.now))
    assert await stores.captions.list("9" * 32) == []
    assert await stores.captions.list("bad\x00id") == []


async def test_deleting_a_video_takes_its_captions(stores: Stores, clock: FakeClock) -> None:
    video_id = await add_queued_video(stores, clock.now)
    kept = await add_queued_video(stores, clock.now)
    assert await stores.captions.add(_caption(video_id, 1, clock.now))
    assert await stores.captions.add(_caption(kept, 2, clock.now))
    await stores.videos.delete(video_id, clock.now)
    assert await stores.captions.list(video_id) == []
    assert [c.id for c in await stores.captions.list(kept)] == [f"c{2:031x}"]


async def test_the_source_tracks_replace_an_earlier_attempts_and_keep_the_owners(
    stores: Stores, clock: FakeClock
) -> None:
    video_id = await add_queued_video(stores, clock.now)
    first = await stores.jobs.claim("w1", video_id)
    assert first is not None
    source = CaptionOrigin.SOURCE
    assert await stores.jobs.source_captions(first, [_caption(video_id, 1, clock.now, source)])
    assert await stores.captions.add(_caption(video_id, 5, clock.now))
    clock.advance(LEASE + 1)
    second = await stores.jobs.claim("w2", video_id)
    assert second is not None
    # The zombie's write is fenced out; the current holder's replaces its tracks.
    assert not await stores.jobs.source_captions(first, [])
    found = [_caption(video_id, 2, clock.now, source), _caption(video_id, 3, clock.now, source)]
    assert await stores.jobs.source_captions(second, found)
    listed = await stores.captions.list(video_id)
    assert sorted(c.id for c in listed) == sorted(f"c{n:031x}" for n in (2, 3, 5))
    assert {c.origin for c in listed if c.id == f"c{5:031x}"} == {CaptionOrigin.UPLOAD}
    video = await stores.videos.get(video_id)
    assert video is not None
    assert video.updated_at == clock.now
