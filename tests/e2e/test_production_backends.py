"""The production layout as separate processes: the upload service, the play API and two
workers on PostgreSQL, S3 and SQS (moto's server on loopback). Video bytes go from the
client straight to S3 through presigned part URLs and come back to players as presigned
segment URLs; the API never carries them."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import media
from tests.support.aws import Moto, wait_for_empty_queue
from tests.support.hls import iframe_playlist_problems
from tests.support.processes import VODSTACK, Server, run_cli, start_split, upload_file
from tests.support.split import SOURCE, cut
from tests.support.stack import postgres_database, production_env, query, with_api_key
from tests.support.storage_check import (
    S3Objects,
    check_finds,
    damage,
    encoded_again,
    repair,
    upload_two,
)

pytestmark = pytest.mark.postgres


@dataclass
class Stack:
    upload: Server
    play: Server
    moto: Moto
    queue_url: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, moto: Moto, database: str) -> Iterator[Stack]:
    queue_url = moto.queue(max_receive_count=5, visibility=30)
    env = with_api_key(production_env(moto, database, queue_url, moto.bucket()))
    root = tmp_path_factory.mktemp("production")
    with start_split(root, **env) as (upload, play):
        upload.start_worker()
        upload.start_worker()
        # A video is cut for the workers alive when it is planned: both, before any upload.
        _wait_enrolled(database, workers=2)
        yield Stack(upload, play, moto, queue_url, upload.env)


def _wait_enrolled(database: str, workers: int) -> None:
    deadline = time.monotonic() + 60
    while query(database, "SELECT count(*) AS n FROM workers")[0]["n"] < workers:
        assert time.monotonic() < deadline, "the workers never enrolled their slots"
        time.sleep(0.1)


def test_upload_to_s3_transcode_and_play_through_presigned_urls(
    stack: Stack, tmp_path: Path
) -> None:
    # Cut for 2 live slots (no chunk longer than a slot's 21 s share): four chunks (6, 12,
    # 18 and 6 s) and the audio, parts for both workers.
    clip = cut(SOURCE, 42, tmp_path / "film.webm")
    moto_host = urlparse(stack.moto.endpoint).netloc

    # The upload service hands out part URLs that point at S3 itself...
    created = httpx.post(
        f"{stack.upload.url}/v1/uploads",
        json={"filename": clip.name, "size": clip.stat().st_size},
        headers=stack.upload.headers,
    ).json()
    parts = httpx.post(
        f"{stack.upload.url}/v1/uploads/{created['upload_id']}/parts",
        json={"part_numbers": [1]},
        headers=stack.upload.headers,
    ).json()["parts"]
    assert urlparse(parts[0]["url"]).netloc == moto_host
    # ...and has no route that takes video bytes at all.
    assert httpx.put(f"{stack.upload.url}/v1/storage/parts/x/1", content=b"x").status_code in (
        404,
        405,
    )
    httpx.delete(
        f"{stack.upload.url}/v1/uploads/{created['upload_id']}", headers=stack.upload.headers
    )

    video_id = upload_file(stack.upload, clip)
    video = stack.play.wait_for(video_id, lambda v: v["status"] in ("ready", "failed"))
    assert video["status"] == "ready", video
    _check_split_across_workers(stack, video_id, moto_host)

    master_url = stack.play.get(f"/v1/videos/{video_id}/playback")["master_url"]
    assert master_url.startswith(stack.play.url)
    master = httpx.get(master_url)
    assert master.status_code == 200
    variants = [line for line in master.text.splitlines() if line and not line.startswith("#")]
    assert len(variants) == 2
    assert 'URI="audio/index.m3u8"' in master.text  # the audio, encoded once
    for variant in [*variants, "audio/index.m3u8"]:
        playlist = httpx.get(master_url.rsplit("/", 1)[0] + "/" + variant)
        assert playlist.status_code == 200
        uris = [line for line in playlist.text.splitlines() if line and not line.startswith("#")]
        init = playlist.text.split('URI="', 1)[1].split('"', 1)[0]
        for url in (init, uris[0], uris[-1]):
            assert urlparse(url).netloc == moto_host
            assert "X-Amz-Signature=" in url
            fetched = httpx.get(url)
            assert fetched.status_code == 200, (urlparse(url).path, _timeline(stack, video_id))
            assert len(fetched.content) > 100
    _check_trick_play(master_url, master.text, moto_host)
    _check_storyboard_and_captions(stack, video_id, master_url, moto_host)
    _check_pictures_and_original(stack, video_id, clip, moto_host)
    # The messages were deleted once the jobs were committed: nothing is left to redeliver.
    wait_for_empty_queue(stack.moto, stack.queue_url)


def _timeline(stack: Stack, video_id: str) -> list[str]:
    events = stack.play.get(f"/v1/videos/{video_id}/events")["events"]
    return [f"{e.get('part')} {e['kind']}: {e.get('reason')}" for e in events]


def _check_trick_play(master_url: str, master: str, moto_host: str) -> None:
    """Every rung of the chunked video has an I-frame playlist that keeps Apple's rules, and
    each of its byte ranges, fetched from S3 as a player would, is a fragment's header."""
    base = master_url.rsplit("/", 1)[0]
    uris = [
        line.split('URI="', 1)[1].split('"', 1)[0]
        for line in master.splitlines()
        if line.startswith("#EXT-X-I-FRAME-STREAM-INF:")
    ]
    texts = {uri: httpx.get(f"{base}/{uri}").text for uri in uris}
    assert iframe_playlist_problems(master, texts) == []
    for text in texts.values():
        lines = text.splitlines()
        ranges = [line.partition(":")[2] for line in lines if line.startswith("#EXT-X-BYTERANGE:")]
        length, _, offset = ranges[-1].partition("@")
        url = lines[lines.index(f"#EXT-X-BYTERANGE:{ranges[-1]}") + 1]
        assert urlparse(url).netloc == moto_host
        last = int(offset) + int(length) - 1
        piece = httpx.get(url, headers={"Range": f"bytes={offset}-{last}"})
        assert piece.status_code == 206
        assert piece.content[4:8] == b"moof"


def _check_storyboard_and_captions(
    stack: Stack, video_id: str, master_url: str, moto_host: str
) -> None:
    """The chunked film's storyboard is assembled from its chunks' tiles, each sheet a
    presigned S3 URL; an SRT added to it is stored in S3 and plays as a subtitle rendition
    on the film's offset timeline."""
    base = master_url.rsplit("/", 1)[0]
    vtt = httpx.get(f"{base}/storyboard/storyboard.vtt")
    assert vtt.status_code == 200, vtt.text
    sheets = [line for line in vtt.text.splitlines() if "#xywh=" in line]
    assert len(sheets) == 21  # 42 s, a tile every 2 s
    assert {urlparse(s).netloc for s in sheets} == {moto_host}
    sheet = httpx.get(sheets[-1].split("#", 1)[0])
    assert sheet.status_code == 200
    assert sheet.content.startswith(b"\xff\xd8")

    added = httpx.post(
        f"{stack.play.url}/v1/videos/{video_id}/captions",
        data={"language": "de", "name": "Deutsch"},
        files={"file": ("de.srt", b"1\n00:00:01,000 --> 00:00:02,500\nHallo\n", "text/plain")},
        headers=stack.play.headers,
    )
    assert added.status_code == 201, added.text
    caption = added.json()["id"]
    master = httpx.get(master_url).text
    assert f'URI="captions/{caption}/index.m3u8"' in master
    segment = httpx.get(f"{base}/captions/{caption}/seg_00000.vtt")
    assert segment.status_code == 200
    assert "X-TIMESTAMP-MAP=MPEGTS:90000,LOCAL:00:00:00.000" in segment.text
    assert "Hallo" in segment.text


def _check_pictures_and_original(stack: Stack, video_id: str, clip: Path, moto_host: str) -> None:
    """The poster is made once, then kept in S3 and served from there; the original comes
    from S3 through a presigned URL, as it was uploaded."""
    poster_url = f"{stack.play.url}/v1/videos/{video_id}/thumbnail.jpg?width=320"
    made = httpx.get(poster_url)
    assert made.status_code == 200, made.text
    assert made.headers["content-type"] == "image/jpeg"
    assert made.content.startswith(b"\xff\xd8")
    kept = httpx.get(poster_url)
    assert kept.status_code == 302
    assert urlparse(kept.headers["location"]).netloc == moto_host
    assert httpx.get(kept.headers["location"]).content == made.content
    source = httpx.get(f"{stack.play.url}/v1/videos/{video_id}/source", headers=stack.play.headers)
    assert source.status_code == 302
    assert "X-Amz-Signature=" in source.headers["location"]
    original = httpx.get(source.headers["location"])
    assert original.content == clip.read_bytes()
    # S3 itself names the download after the upload, as the signed URL asks.
    assert original.headers["content-disposition"].startswith(
        f'attachment; filename="{clip.name}";'
    )
    # The CLI follows the redirect without sending its key on to S3.
    copy = clip.with_name("copy.webm")
    done = run_cli(stack.play, "download", video_id, "--output", str(copy))
    assert done.returncode == 0, done.stderr
    assert copy.read_bytes() == clip.read_bytes()


def _check_split_across_workers(stack: Stack, video_id: str, moto_host: str) -> None:
    """The film was split into parts that both workers took, each claimed and published
    once, each reading only its span of the source from S3 through a presigned URL (ffmpeg
    seeks in it with ranged GETs): no part downloads the whole source."""
    events = stack.play.get(f"/v1/videos/{video_id}/events")["events"]
    kinds = [e["kind"] for e in events]
    assert kinds[:5] == ["queued", "claimed", "probed", "planned", "split"]
    claims = [e for e in events if e["kind"] == "claimed"][1:]
    assert len(claims) == kinds.count("ready") == 5  # 4 chunks (6, 12, 18, 6 s), the audio
    assert len({e["worker"].rsplit("/", 1)[0] for e in claims}) == 2, "both workers took parts"
    assert kinds.count("playable") == 1
    assert kinds[-1] == "assembled"
    # The timeline names the input as the receipt does: a URL (which would carry its
    # signature to whoever reads the timeline) as "<source URL>", a downloaded copy as
    # "source".
    commands = [e["detail"]["command"] for e in events if e["kind"] == "encoding"]
    assert len(commands) == 5
    assert all(" -i '<source URL>' " in c for c in commands), commands[0]
    assert not any(moto_host in c or "X-Amz-Signature=" in c for c in commands)


def test_a_multipart_upload_that_is_not_a_video_fails_with_its_reason(
    stack: Stack, tmp_path: Path
) -> None:
    """Three parts straight to S3; the worker says why the file is unusable, and the queue
    is left empty."""
    junk = tmp_path / "holiday.mp4"
    junk.write_bytes(os.urandom(11 * 1024 * 1024))
    video = stack.play.wait_for(
        upload_file(stack.upload, junk), lambda v: v["status"] in ("ready", "failed")
    )
    assert video["status"] == "failed"
    assert "not a video" in video["error"] or "invalid data" in video["error"].lower(), video


def test_a_message_that_is_not_ours_is_dropped_and_the_workers_go_on(stack: Stack) -> None:
    sqs = stack.moto.sqs()
    for body in ("garbage", '{"Event": "s3:TestEvent"}', '{"video_id": "' + "0" * 32 + '"}'):
        sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)
    clip = media("axm_bear_vp9_odd_161x121.webm")
    video = stack.play.wait_for(upload_file(stack.upload, clip), lambda v: v["status"] == "ready")
    assert video["renditions"]
    assert all(worker.poll() is None for worker in stack.upload.workers)


def test_check_config_names_a_missing_bucket_and_queue(stack: Stack) -> None:
    good = subprocess.run(
        [*VODSTACK, "check-config"], env=stack.env, capture_output=True, text=True, check=False
    )
    assert good.returncode == 0, good.stderr
    bad_env = {
        **stack.env,
        "VODSTACK_STORAGE_URL": "s3://no-such-bucket",
        "VODSTACK_QUEUE_URL": f"{stack.moto.endpoint}/123456789012/no-such-queue",
    }
    bad = subprocess.run(
        [*VODSTACK, "check-config"], env=bad_env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1
    assert "S3 bucket 'no-such-bucket' does not exist" in bad.stderr
    assert "no-such-queue does not exist" in bad.stderr
    refused = subprocess.run(
        [*VODSTACK, "serve", "--role", "play", "--port", "1"],
        env=bad_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "cannot start: storage: S3 bucket 'no-such-bucket' does not exist" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout


def test_bad_parts_sent_straight_to_s3_get_a_clear_4xx_at_complete(stack: Stack) -> None:
    size = 6 * 1024 * 1024 + 10  # two parts
    data = os.urandom(size)
    api = stack.upload.url
    auth = stack.upload.headers
    created = httpx.post(
        f"{api}/v1/uploads", json={"filename": "a.mp4", "size": size}, headers=auth
    ).json()
    upload_id = created["upload_id"]
    urls = {
        p["part_number"]: p["url"]
        for p in httpx.post(
            f"{api}/v1/uploads/{upload_id}/parts", json={"part_numbers": [1, 2]}, headers=auth
        ).json()["parts"]
    }
    first = httpx.put(urls[1], content=data[: created["part_size"]])
    etag = first.headers["ETag"]

    def complete(parts: list[dict[str, Any]]) -> httpx.Response:
        return httpx.post(
            f"{api}/v1/uploads/{upload_id}/complete", json={"parts": parts}, headers=auth
        )

    missing = complete([{"part_number": 1, "etag": etag}, {"part_number": 2, "etag": "0" * 32}])
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "missing_parts")
    httpx.put(urls[2], content=data[created["part_size"] :])
    wrong = complete([{"part_number": 1, "etag": "0" * 32}, {"part_number": 2, "etag": etag}])
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "etag_mismatch")

    # Someone aborts the multipart upload in S3 behind vodstack's back.
    s3 = stack.moto.s3()
    bucket = stack.env["VODSTACK_STORAGE_URL"].split("/")[2]
    (held,) = s3.list_multipart_uploads(Bucket=bucket, Prefix=f"vod/sources/{created['video_id']}")[
        "Uploads"
    ]
    s3.abort_multipart_upload(Bucket=bucket, Key=held["Key"], UploadId=held["UploadId"])
    aborted = complete([{"part_number": 1, "etag": etag}, {"part_number": 2, "etag": etag}])
    assert (aborted.status_code, aborted.json()["error"]["code"]) == (409, "upload_aborted")


def test_storage_check_on_s3_and_postgresql(stack: Stack) -> None:
    """`vodstack storage check` on the bucket and database: what it finds, and a repair whose
    re-encode goes through SQS to the workers under the usual leases."""
    bucket = stack.env["VODSTACK_STORAGE_URL"].split("/")[2]
    objects = S3Objects(stack.moto.s3(), bucket, "vod/")
    damaged_id, healthy_id = upload_two(
        stack.upload, stack.play, media("axm_bear_vp9_odd_161x121.webm")
    )
    done = damage(stack.play, objects, damaged_id)
    report = check_finds(stack.env, done)
    # Other tests' videos share the bucket: none of their published files is missing.
    assert [d["video_id"] for d in report["damaged"]] == [damaged_id]
    repair(stack.env, objects, done, healthy_id)
    encoded_again(stack.play, objects, done)
