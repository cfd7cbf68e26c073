"""Everything around the stream, through a real server and worker on the embedded stack: one
upload of a clip that starts black and fades in, with a subtitle track, then its poster,
thumbnails and original."""

from __future__ import annotations

import hashlib
import io
import math
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.support.hostile import ffmpeg
from tests.support.processes import Server, run_cli, start_server, upload_file

SECONDS = 12
BLACK_SECONDS = 2
FADE_SECONDS = 3


@dataclass(frozen=True)
class Uploaded:
    server: Server
    video: dict[str, Any]
    clip: Path

    @property
    def id(self) -> str:
        return str(self.video["id"])

    def url(self, path: str) -> str:
        return f"{self.server.url}/v1/videos/{self.id}{path}"


def fading_clip(folder: Path) -> Path:
    """Black, then a fade into a moving test picture, with sound and an SRT track: 640x360,
    so that the ladder has two rungs."""
    srt = folder / "clip.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:03,500\nThe first line\n\n"
        "2\n00:00:07,250 --> 00:00:09,000\nThe second line\n"
    )
    clip = folder / "fading.mkv"
    ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=s=640x360:r=25:d={SECONDS}"),
        *("-f", "lavfi", "-i", f"sine=f=440:d={SECONDS}", "-i", str(srt)),
        *("-vf", f"fade=in:st={BLACK_SECONDS}:d={FADE_SECONDS}"),
        *("-map", "0:v", "-map", "1:a", "-map", "2:s", "-c:v", "libx264", "-preset", "ultrafast"),
        *("-c:a", "aac", "-c:s", "srt", "-metadata:s:s:0", "language=eng", str(clip)),
    )
    return clip


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uploaded]:
    root = tmp_path_factory.mktemp("around")
    with start_server(root) as server:
        clip = fading_clip(root)
        video_id = upload_file(server, clip)
        video = server.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
        assert video["status"] == "ready", video
        yield Uploaded(server, video, clip)


def luma(jpeg: bytes) -> tuple[int, int, list[int]]:
    """Width, height and the luma samples of a JPEG."""
    with av.open(io.BytesIO(jpeg), "r") as container:
        frame = next(container.decode(video=0))
    plane = frame.planes[0]
    rows = bytes(plane)
    samples = [
        rows[y * plane.line_size + x] for y in range(frame.height) for x in range(frame.width)
    ]
    return frame.width, frame.height, samples


def mean_and_spread(samples: list[int]) -> tuple[float, float]:
    mean = sum(samples) / len(samples)
    return mean, math.sqrt(sum((s - mean) ** 2 for s in samples) / len(samples))


def test_the_poster_is_not_the_black_start(uploaded: Uploaded) -> None:
    poster = httpx.get(uploaded.url("/thumbnail.jpg"))
    assert poster.status_code == 200, poster.text
    assert poster.headers["content-type"] == "image/jpeg"
    width, _, samples = luma(poster.content)
    assert width == 640
    mean, spread = mean_and_spread(samples)
    assert mean > 40, (mean, spread)
    assert spread > 20, (mean, spread)
    # The very start, by contrast, is black: the check above can fail.
    start = httpx.get(uploaded.url("/thumbnail.jpg?time=0.5&width=160"))
    assert start.status_code == 200, start.text
    assert mean_and_spread(luma(start.content)[2])[0] < 20


def test_thumbnails_come_in_fixed_widths_at_any_time(uploaded: Uploaded) -> None:
    small = httpx.get(uploaded.url("/thumbnail.jpg?width=160&time=8"))
    assert small.status_code == 200, small.text
    width, height, _ = luma(small.content)
    assert (width, height) == (160, 90)
    # Made once: the picture is kept with the ladder, and the next request reads it.
    kept = list((uploaded.server.data_dir / "objects" / "outputs" / uploaded.id).rglob("*.jpg"))
    assert any(p.parent.name == "w160" and p.name == "t8000.jpg" for p in kept), kept
    assert httpx.get(uploaded.url("/thumbnail.jpg?width=160&time=8")).content == small.content
    # Never blown up past the largest rendition.
    assert luma(httpx.get(uploaded.url("/thumbnail.jpg?width=1280&time=8")).content)[0] == 640
    for query, words in (
        ("width=333", "160, 320, 640, 1280"),
        (f"time={SECONDS + 5}", "past the end"),
        ("time=-1", "0 or more"),
    ):
        refused = httpx.get(uploaded.url(f"/thumbnail.jpg?{query}"))
        assert refused.status_code == 400, refused.text
        assert words in refused.json()["error"]["message"]


def test_the_owner_chooses_another_poster(uploaded: Uploaded) -> None:
    headers = uploaded.server.headers
    before = httpx.get(uploaded.url("/thumbnail.jpg?width=160")).content
    chosen = httpx.patch(uploaded.url(""), json={"poster_time": 0.2}, headers=headers)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["poster_time"] == 0.2
    after = httpx.get(uploaded.url("/thumbnail.jpg?width=160")).content
    assert after != before
    assert mean_and_spread(luma(after)[2])[0] < 20  # the black start, as asked
    past = httpx.patch(uploaded.url(""), json={"poster_time": 99}, headers=headers)
    assert past.status_code == 400
    assert "past the end" in past.json()["error"]["message"]


def test_the_owner_downloads_the_original(uploaded: Uploaded, tmp_path: Path) -> None:
    assert httpx.get(uploaded.url("/source")).status_code == 401
    got = httpx.get(uploaded.url("/source"), headers=uploaded.server.headers)
    assert got.status_code == 200, got.text
    assert (
        hashlib.sha256(got.content).digest() == hashlib.sha256(uploaded.clip.read_bytes()).digest()
    )
    assert got.headers["content-disposition"].startswith('attachment; filename="fading.mkv"')
    # The same with the CLI, which streams it to a file.
    out = tmp_path / "copy.mkv"
    done = run_cli(uploaded.server, "download", uploaded.id, "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == uploaded.clip.read_bytes()
    assert not list(tmp_path.glob("*.partial"))


def test_the_video_shows_its_quality_receipt(uploaded: Uploaded) -> None:
    video = httpx.get(uploaded.url("")).raise_for_status().json()
    receipt = video["receipt"]
    assert [r["rung"] for r in receipt["rungs"]] == ["360p", "240p"]
    for rung in receipt["rungs"]:
        assert rung["published"], rung["problems"]
        assert rung["crf"] is not None, "encoded at a constant quality"
        assert rung["frames"] > 0
        assert 40 <= rung["vmaf"] <= 100
        assert rung["psnr"] > 20
        assert rung["idr_aligned"]
    digest = hashlib.sha256(uploaded.clip.read_bytes()).hexdigest()
    assert receipt["source_sha256"] == digest
    # No machine path: the binary, the work folders and the source are named.
    assert not [w for w in shlex.split(receipt["command"]) if w.startswith("/")]
    # Not in the list, which stays light.
    listed = httpx.get(f"{uploaded.server.url}/v1/videos").raise_for_status().json()
    assert all(v.get("receipt") is None for v in listed["videos"])
