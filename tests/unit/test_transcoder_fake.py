"""The fake transcoder behaves like the real one where worker tests rely on it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vodstack import errors
from vodstack.adapters.transcoder_fake import FAKE_SOURCE, FakeTranscoder
from vodstack.domain.playlist import parse_media_playlist
from vodstack.ports import Transcoder


async def test_writes_a_playable_shaped_ladder(tmp_path: Path) -> None:
    fake: Transcoder = FakeTranscoder()
    info = await fake.probe(tmp_path / "src.mp4")
    progress: list[float] = []
    result = await fake.transcode(tmp_path / "src.mp4", info, tmp_path / "out", progress.append)
    assert progress == [0.5, 1.0]
    assert sorted(p.as_posix() for p in result.files) == [
        "720p/index.m3u8",
        "720p/init.mp4",
        "720p/seg_00000.m4s",
        "master.m3u8",
        "storyboard/sheet_000.jpg",
        "storyboard/storyboard.vtt",
    ]
    assert all((tmp_path / "out" / p).is_file() for p in result.files)
    master = (tmp_path / "out" / result.master_playlist).read_text()
    assert "720p/index.m3u8" in master
    playlist = parse_media_playlist((tmp_path / "out/720p/index.m3u8").read_text())
    assert playlist.duration == FAKE_SOURCE.duration


async def test_rejects_and_fails_on_request(tmp_path: Path) -> None:
    fake = FakeTranscoder(invalid="no video stream (the file has only audio)")
    with pytest.raises(errors.InvalidMedia, match="only audio"):
        await fake.probe(tmp_path / "a.m4a")
    fake = FakeTranscoder(fail="ffmpeg exited with 1", fail_times=1)
    with pytest.raises(errors.TranscodeFailed, match="exited with 1"):
        await fake.transcode(tmp_path / "a", FAKE_SOURCE, tmp_path / "o1", lambda _: None)
    result = await fake.transcode(tmp_path / "a", FAKE_SOURCE, tmp_path / "o2", lambda _: None)
    assert result.renditions
    assert len(fake.transcoded) == 2


async def test_blocks_until_cancelled(tmp_path: Path) -> None:
    fake = FakeTranscoder(block=True)
    task = asyncio.create_task(
        fake.transcode(tmp_path / "a", FAKE_SOURCE, tmp_path / "o", lambda _: None)
    )
    await asyncio.wait_for(fake.started.wait(), 1)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.cancelled.is_set()
    assert not (tmp_path / "o").exists()
