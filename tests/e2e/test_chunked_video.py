"""A split video end to end on the embedded stack (SQLite and a directory), with real
ffmpeg and real worker processes.

A worker is SIGKILLed in the middle of a chunk; another takes the video on, and is held
before publishing the last high-rung chunk, so the video is seen as it is meanwhile:
playable, at its low rung, with its audio, from the playback URL. Released, the video is
ready. Its playlists list every segment once; the stitched rungs and the audio run on with
no gap, no overlap and no drift; and the killed chunk was the only work done twice."""

from __future__ import annotations

import itertools
import math
import re
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx

from tests.support.hls import Timestamps, timestamps
from tests.support.machine_paths import machine_paths
from tests.support.processes import Server, start_server, upload_file
from tests.support.split import SECONDS, SETTINGS, split_clip
from vodstack.domain.ffmpeg_args import AUDIO_SAMPLE_RATE
from vodstack.domain.grid import KEYFRAME_SECONDS
from vodstack.domain.playlist import parse_media_playlist

CRASHING_WORKER = [sys.executable, "-m", "tests.support.crash_points"]
AAC_FRAME = 1024  # samples


def _stream(base: str, playlist_path: str, token: str = "") -> tuple[Any, bytes]:
    """A rung's playlist as served, and its init segment and segments, joined."""
    text = httpx.get(f"{base}/{playlist_path}{token}", timeout=10).raise_for_status().text
    playlist = parse_media_playlist(text)
    folder = playlist_path.rsplit("/", 1)[0]
    assert playlist.map_uri is not None
    names = [playlist.map_uri, *(s.uri for s in playlist.segments)]
    body = b"".join(
        httpx.get(f"{base}/{folder}/{name}", timeout=10).raise_for_status().content
        for name in names
    )
    return playlist, body


def _runs_on(found: Timestamps) -> None:
    steps = {b - a for a, b in itertools.pairwise(found.dts)}
    assert len(steps) == 1, f"decode times must run on evenly, found steps {steps}"
    assert {b - a for a, b in itertools.pairwise(found.pts)} == steps, "a gap or an overlap"


def test_a_split_video_plays_from_its_first_chunk_and_a_killed_chunk_costs_only_itself(
    tmp_path: Path,
) -> None:
    with start_server(tmp_path, "--workers", "0", **SETTINGS) as server:
        video_id = upload_file(server, split_clip(tmp_path))
        crashed = server.start_worker(command=[*CRASHING_WORKER, "part_encoding"])
        assert crashed.wait(timeout=120) == -9, "the worker must die mid-chunk"
        release = tmp_path / "release"
        held = server.start_worker(
            "--concurrency", "2", command=[*CRASHING_WORKER, f"hold:c1t2:{release}"]
        )
        server.wait_for_log(held, "holding part c1t2", timeout=120)
        _wait_for_event(server, video_id, "published chunk 1 (6-")
        _check_playable(server, video_id)
        release.touch()
        video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
        assert video["status"] == "ready", video["error"]
        _check_ready(server, video_id)
        _check_work(server, video_id)


def _wait_for_event(server: Server, video_id: str, reason: str) -> None:
    """Until the timeline has an event whose reason starts with ``reason``."""

    def seen(video: dict[str, Any]) -> bool:
        events = server.get(f"/v1/videos/{video_id}/events")["events"]
        return any((e["reason"] or "").startswith(reason) for e in events)

    server.wait_for(video_id, seen, timeout=120)


def _check_playable(server: Server, video_id: str) -> None:
    video = server.get(f"/v1/videos/{video_id}")
    assert video["status"] == "playable"
    assert [r["name"] for r in video["renditions"]] == ["240p"]
    playback = server.get(f"/v1/videos/{video_id}/playback")
    # What a player opened now is told: the rungs its master lists, and that more will come.
    assert (playback["status"], playback["renditions"]) == ("playable", ["240p"])
    master_url = playback["master_url"]
    master = httpx.get(master_url, timeout=10).raise_for_status().text
    assert "332p" not in master, "a rung is listed only once all of it is in"
    assert '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"' in master
    base = master_url.rsplit("/", 1)[0]
    low, _ = _stream(base, "240p/index.m3u8")
    assert low.ended, "every chunk of the first tier is in"
    assert abs(low.duration - SECONDS) < 0.1
    _check_storyboard(base)


def _check_storyboard(base: str) -> None:
    """Every chunk of the first tier made its span's tiles: the VTT covers the whole video,
    and each sheet it names is served."""
    vtt = httpx.get(f"{base}/storyboard/storyboard.vtt", timeout=10).raise_for_status()
    assert vtt.headers["content-type"].startswith("text/vtt")
    starts = re.findall(r"^(\d\d):(\d\d):(\d\d\.\d{3}) -->", vtt.text, re.M)
    seconds = [int(h) * 3600 + int(m) * 60 + float(s) for h, m, s in starts]
    assert seconds == [float(t) for t in range(0, math.ceil(SECONDS), KEYFRAME_SECONDS)]
    sheets = set(re.findall(r"^(\S+)#xywh=", vtt.text, re.M))
    assert len(sheets) == 2, "a sheet of each chunk's tiles"
    for sheet in sheets:
        got = httpx.get(f"{base}/storyboard/{sheet}", timeout=10).raise_for_status()
        assert got.headers["content-type"] == "image/jpeg"
        assert got.content.startswith(b"\xff\xd8"), "a JPEG"


def _check_ready(server: Server, video_id: str) -> None:
    _check_receipt(server.get(f"/v1/videos/{video_id}"))
    master_url = server.get(f"/v1/videos/{video_id}/playback")["master_url"]
    base = master_url.rsplit("/", 1)[0]
    deadline = time.monotonic() + 10  # the play API looks a video up once per 2 s
    while "332p" not in (master := httpx.get(master_url, timeout=10).text):
        assert time.monotonic() < deadline, master
        time.sleep(0.2)
    while (playback := server.get(f"/v1/videos/{video_id}/playback"))["status"] != "ready":
        assert time.monotonic() < deadline, playback
        time.sleep(0.2)
    assert sorted(playback["renditions"]) == ["240p", "332p"]
    assert "332p/index.m3u8" in master
    assert "240p/index.m3u8" in master
    videos = {}
    for rung in ("332p", "240p"):
        playlist, body = _stream(base, f"{rung}/index.m3u8")
        assert playlist.ended
        numbers = [int(s.uri.rsplit("_", 1)[1].split(".")[0]) for s in playlist.segments]
        assert numbers == list(range(len(numbers))), "every segment, once, in order"
        assert all(s.duration <= playlist.target_duration for s in playlist.segments)
        found = timestamps(body)
        _runs_on(found)
        frame = found.dts[1] - found.dts[0]
        assert len(found.pts) * frame * found.time_base == SECONDS  # every frame, once
        grid = KEYFRAME_SECONDS / found.time_base
        assert [k - found.pts[0] for k in found.keyframes] == [
            n * grid for n in range(len(found.keyframes))
        ]
        videos[rung] = found
    audio_playlist, audio_body = _stream(base, "audio/index.m3u8")
    assert audio_playlist.ended
    audio = timestamps(audio_body, "audio")
    _runs_on(audio)
    video = videos["332p"]
    one_frame = Fraction(AAC_FRAME, AUDIO_SAMPLE_RATE)
    # The first audio packet is the encoder's priming, which the edit list hides.
    start = ((audio.pts[0] + AAC_FRAME) * audio.time_base, video.pts[0] * video.time_base)
    assert abs(start[0] - start[1]) <= one_frame, f"audio and video start apart: {start}"
    end_audio = (audio.pts[-1] + audio.duration) * audio.time_base
    end_video = (video.pts[-1] + video.dts[1] - video.dts[0]) * video.time_base
    assert abs(end_audio - end_video) <= one_frame, "audio and video end apart"


def _check_work(server: Server, video_id: str) -> None:
    events = server.get(f"/v1/videos/{video_id}/events")["events"]
    claims = [e["reason"] for e in events if e["kind"] == "claimed"]
    again = [c for c in claims if "attempt 2" in c]
    assert len(again) == 1, claims
    assert again[0].startswith("chunk 1 (6-12.006 s) at 240p"), again
    assert [e["kind"] for e in events].count("playable") == 1
    assert events[-1]["kind"] == "assembled"
    commands = [e["detail"]["command"] for e in events if e["kind"] == "encoding"]
    assert commands, "no encoding event"
    assert all(" -i source " in c and " out/" in c for c in commands), commands[0]
    assert [machine_paths(c, server.data_dir) for c in commands] == [[]] * len(commands)
    outputs = server.data_dir / "objects" / "outputs" / video_id
    attempts = sorted(p.relative_to(outputs).as_posix() for p in outputs.glob("*/*/c1a*"))
    # The killed attempt of chunk 1 at 240p left nothing behind, its storyboard's sheets
    # neither; 332p's went at once.
    assert attempts == ["e1/240p/c1a2", "e1/332p/c1a1", "e1/storyboard/c1a2"]


def _check_receipt(video: dict[str, Any]) -> None:
    """The assembled receipt: every rung's chunks measured together, within the rules."""
    receipt = video["receipt"]
    assert [r["rung"] for r in receipt["rungs"]] == [r["name"] for r in video["renditions"]]
    for rung in receipt["rungs"]:
        assert rung["published"], rung["problems"]
        assert rung["idr_aligned"]
        assert rung["frames"] > 0
        assert 40 <= rung["vmaf"] <= 100
        assert rung["declared_bandwidth"] >= rung["peak_bitrate"] * 0.9
        assert rung["longest_segment"] <= 6.5
    # One command per tier and the audio's; the source as the worker read it, by digest.
    assert receipt["command"].count(" -filter_complex ") == 2
    assert len(receipt["source_sha256"]) == 64
    assert receipt["ffmpeg_version"].startswith("ffmpeg version")
    assert 0 < receipt["cost"] < 1
