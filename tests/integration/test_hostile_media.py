"""Hostile and damaged files against the real probe (in its contained child process) and
the real ffmpeg: each gets its verdict in words, at once, and nothing in a file makes
either of them open another file or a URL."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import imageio_ffmpeg
import pytest

from tests.conftest import media
from tests.support import hostile
from tests.support.hostile import Listener
from vodstack import errors
from vodstack.adapters.ffmpeg import FfmpegTranscoder, _without_paths
from vodstack.adapters.probe import probe_contained
from vodstack.adapters.sandbox import Confinement, network_isolation
from vodstack.domain.budgets import MediaLimits
from vodstack.domain.ffmpeg_args import TranscodeSpec, build_command
from vodstack.domain.ladder import output_frame_rate, plan_ladder
from vodstack.domain.media import EncoderChoice, SourceInfo


@pytest.fixture(scope="module")
def transcoder() -> FfmpegTranscoder:
    return FfmpegTranscoder(imageio_ffmpeg.get_ffmpeg_exe(), "libx264")


@pytest.fixture
def loopback() -> Iterator[Listener]:
    with hostile.listener() as found:
        yield found


async def refused(transcoder: FfmpegTranscoder, path: Path) -> str:
    with pytest.raises(errors.InvalidMedia) as refusal:
        await transcoder.probe(path)
    reason = refusal.value.message
    assert str(path.parent) not in reason
    assert "/" not in reason, reason
    return reason


async def test_playlists_and_lists_are_refused_and_open_nothing(
    transcoder: FfmpegTranscoder, tmp_path: Path, loopback: Listener
) -> None:
    clip = media("axm_bear_vp9_odd_161x121.webm")
    files = {
        hostile.playlist(tmp_path / "remote.m3u8", loopback.url): "it is a playlist",
        hostile.local_playlist(tmp_path / "local.m3u8"): "it is a playlist",
        hostile.concat_list(tmp_path / "list.mp4", clip): "it is a concat list",
        hostile.remote_concat_list(tmp_path / "remote.mp4", loopback.url): "it is a concat list",
    }
    info = await transcoder.probe(clip)
    for path, words in files.items():
        assert words in await refused(transcoder, path)
        # ffmpeg refuses them on its own too, whatever the probe said.
        out = tmp_path / f"out-{path.name}"
        (out / "240p").mkdir(parents=True)
        done = await asyncio.to_thread(
            subprocess.run, command_for(transcoder, path, out, info), capture_output=True
        )
        assert done.returncode != 0, path.name
        assert not list(out.rglob("*.m4s"))
    assert loopback.connections == []


def command_for(transcoder: FfmpegTranscoder, path: Path, out: Path, info: SourceInfo) -> list[str]:
    rungs = plan_ladder(info)[-1:]
    encoder = EncoderChoice("libx264", "tests")
    spec = TranscodeSpec(info, rungs, output_frame_rate(info), encoder)
    return build_command(transcoder.ffmpeg, path, out, spec)


async def test_a_ten_hour_still_is_refused_in_seconds(
    transcoder: FfmpegTranscoder, tmp_path: Path
) -> None:
    gap = hostile.with_gap(tmp_path / "gap.mp4", 36000)
    assert gap.stat().st_size < 100_000
    assert await refused(transcoder, gap) == (
        "the file has no new picture for 10 h 0 min, from 0.9 s on; at most 5 min is accepted"
    )


async def test_a_shorter_still_is_a_frame_every_two_seconds(
    transcoder: FfmpegTranscoder, tmp_path: Path
) -> None:
    gap = hostile.with_gap(tmp_path / "gap.mp4", 60, size="320x240")
    info = await transcoder.probe(gap)
    assert len(info.stills) == 1
    assert info.stills[0].length == pytest.approx(60, abs=0.1)
    out = tmp_path / "out"
    out.mkdir()
    result = await transcoder.transcode(gap, info, out, lambda _: None)
    assert 60 <= result.duration <= 61.2
    for rendition in result.renditions:
        folder = out / rendition.name
        joined = tmp_path / f"{rendition.name}.mp4"
        parts = [folder / "init.mp4", *sorted(folder.glob("seg_*.m4s"))]
        joined.write_bytes(b"".join(p.read_bytes() for p in parts))
        with av.open(str(joined)) as container:
            times = sorted(
                float(p.pts * p.time_base) for p in container.demux(video=0) if p.pts is not None
            )
        # 30 frames, then a 60 s still: one frame per 2 s and one before each segment's
        # end, not the 1,800 duplicates a full rate would be.
        assert 55 <= len(times) <= 75, len(times)
        steps = [b - a for a, b in itertools.pairwise(times)]
        assert max(steps) <= 2.0 + 1e-3  # no hole in the timeline a player would skip


async def test_pictures_streams_and_truncation(
    transcoder: FfmpegTranscoder, tmp_path: Path
) -> None:
    huge = hostile.huge_frame(tmp_path / "huge.mp4")
    assert "8192x8192 is 67.1 megapixels" in await refused(transcoder, huge)
    streams = hostile.many_streams(tmp_path / "streams.mkv")
    assert await refused(transcoder, streams) == "the file has 64 streams; at most 32 are accepted"
    whole = hostile.index_first(tmp_path / "whole.mp4")
    truncated = hostile.cut(whole, tmp_path / "cut.mp4", 0.6)
    info = await transcoder.probe(truncated)
    assert info.declared_duration == pytest.approx(1.6, abs=0.05)
    assert info.duration == pytest.approx(0.95, abs=0.15)
    mostly_gone = hostile.cut(whole, tmp_path / "stub.mp4", 0.3)
    assert "less than 50% of it" in await refused(transcoder, mostly_gone)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("axm_CORRUPT_invalid_nalu.mp4", r"cannot be decoded: invalid bitstream at 0\.9\d s"),
        ("axm_CORRUPT_malformed_free_box_no_moov.mp4", "moov atom not found"),
        ("axm_CORRUPT_vp9_invalid_bitstream.webm", "cannot be decoded: invalid bitstream"),
    ],
)
async def test_the_damaged_sample_files_are_refused_by_the_contained_probe(
    transcoder: FfmpegTranscoder, name: str, reason: str
) -> None:
    with pytest.raises(errors.InvalidMedia, match=reason):
        await transcoder.probe(media(name))


async def test_a_probe_that_crashes_refuses_that_file_only(
    transcoder: FfmpegTranscoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join([str(hostile.CRASHING_PROBE), os.environ.get("PYTHONPATH", "")]),
    )
    clip = media("axm_bear_vp9_odd_161x121.webm")
    crash = hostile.crashing(clip, tmp_path / "crash.webm")
    assert await refused(transcoder, crash) == (
        "the file crashed the video parser (SIGSEGV): it is damaged, or not a video"
    )
    assert (await transcoder.probe(clip)).width == 161  # the next file is probed as ever


def contained(code: str, confinement: Confinement) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=confinement.preexec(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_contained_process_is_stopped_at_its_cpu_time_and_memory() -> None:
    spin = Confinement(cpu_seconds=1)
    done = contained("while True: pass", spin)
    assert spin.verdict(done.returncode) == "it used more than its 1 s of CPU time"
    small = Confinement(memory_bytes=512 * 2**20)
    done = contained("bytearray(2**30)", small)
    assert done.returncode == 1
    assert "MemoryError" in done.stderr
    writer = Confinement(file_bytes=2**20)
    done = contained(
        "import os, signal; signal.signal(signal.SIGXFSZ, signal.SIG_DFL);"
        f"open({os.devnull!r}.replace('null', 'shm') + '/vodstack-fsize', 'wb')"
        ".write(b'x' * 2**21)",
        writer,
    )
    assert writer.verdict(done.returncode) == "it wrote a file larger than 1 MiB"


@pytest.mark.skipif(not network_isolation(), reason="this kernel keeps no child off the network")
def test_a_contained_process_reading_a_local_file_has_no_network(loopback: Listener) -> None:
    port = loopback.url.rsplit(":", 1)[1]
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)"
    done = contained(code, Confinement(isolate_network=True))
    assert done.returncode != 0
    # A namespace of its own has no route; a socket filter refuses the socket itself.
    assert "unreachable" in done.stderr.lower() or "permission denied" in done.stderr.lower()
    assert contained(code, Confinement()).returncode == 0  # the same, not isolated
    assert loopback.wait_for_connections(1)


def test_ffmpeg_reasons_name_no_machine_path_and_no_url() -> None:
    line = (
        "Error opening input file /tmp/work/17-e2/source: Invalid data; "
        "https://bucket.s3.example/sources/v/source?X-Amz-Signature=abc: I/O error"
    )
    assert (
        _without_paths(line) == "Error opening input file <file>: Invalid data; <source>: I/O error"
    )


async def test_limits_reach_the_probe_process() -> None:
    clip = media("axm_bear_vp9_odd_161x121.webm")
    tight = MediaLimits(max_frame_pixels=100 * 100)
    with pytest.raises(errors.InvalidMedia, match="161x121"):
        await probe_contained(clip, tight, None, 60)


def test_a_parser_error_anywhere_in_the_probe_is_the_files_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vodstack.adapters import probe as probing

    def damaged(path: Path, limits: MediaLimits) -> SourceInfo:
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(probing, "probe", damaged)
    # An FFmpeg error is an OSError too; it must not pass for the machine's, and be retried.
    answer = probing._child_answer(MediaLimits(), tmp_path / "source")
    assert answer == {"invalid": "the file is damaged: Invalid data found when processing input"}
    gone = tmp_path / "missing"
    monkeypatch.undo()
    assert "unreadable" in probing._child_answer(MediaLimits(), gone)
