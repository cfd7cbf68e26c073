"""Captions end to end, over the HTTP API and the CLI of a real `vodstack serve` with its
worker: an MKV's own SRT track and an uploaded SRT are both listed in the master playlist
as subtitles, and each is served as a segmented WebVTT playlist that lines up with the
video; a bad file is refused in plain words; removing a caption or the video takes it
away."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import media
from tests.support.processes import Server, last_json, run_cli, start_server, upload_file
from vodstack.domain.captions import parse_captions
from vodstack.domain.playlist import parse_media_playlist

SRT = (
    "1\n00:00:00,100 --> 00:00:00,900\nBonjour\n\n"
    "2\n00:00:01,000 --> 00:00:01,200\n<i>au revoir</i>\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="module")
def video_id(server: Server) -> str:
    uploaded = upload_file(server, media("axm_sample_h264_ac3_srt.mkv"))
    video = server.wait_for(uploaded, lambda v: v["status"] in ("ready", "failed"))
    assert video["status"] == "ready", video["error"]
    return uploaded


def _post_caption(server: Server, video_id: str, data: bytes, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/videos/{video_id}/captions",
        data={"language": "fr", "name": "Français", **fields},
        files={"file": ("subs.srt", data, "application/x-subrip")},
        headers=server.headers,
        timeout=30,
    )


def _master(server: Server, video_id: str) -> tuple[str, str]:
    url = server.get(f"/v1/videos/{video_id}/playback")["master_url"]
    return url, httpx.get(url, timeout=10).raise_for_status().text


def test_the_source_track_and_an_added_srt_play_as_subtitles(
    server: Server, video_id: str, tmp_path: Path
) -> None:
    [source] = server.get(f"/v1/videos/{video_id}")["captions"]
    assert (source["language"], source["name"], source["origin"]) == ("en", "Subs Label", "source")

    srt = tmp_path / "french.srt"
    srt.write_text(SRT)
    done = run_cli(server, "captions", "add", video_id, str(srt), "--language", "fr",
                   "--name", "Français", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    added = last_json(done.stdout)
    assert (added["language"], added["name"], added["origin"]) == ("fr", "Français", "upload")

    url, master = _master(server, video_id)
    lines = master.splitlines()
    media_lines = [line for line in lines if line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")]
    assert media_lines == [
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Subs Label",LANGUAGE="en",'
        f'DEFAULT=NO,AUTOSELECT=YES,URI="captions/{source["id"]}/index.m3u8"',
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Français",LANGUAGE="fr",'
        f'DEFAULT=NO,AUTOSELECT=YES,URI="captions/{added["id"]}/index.m3u8"',
    ]
    variants = [line for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
    assert variants
    assert all(v.endswith(',SUBTITLES="subs"') for v in variants)

    base = url.rsplit("/", 1)[0]
    playlist_url = f"{base}/captions/{added['id']}/index.m3u8"
    playlist = parse_media_playlist(httpx.get(playlist_url, timeout=10).raise_for_status().text)
    assert playlist.ended
    assert [s.uri for s in playlist.segments] == ["seg_00000.vtt"]
    segment = httpx.get(f"{base}/captions/{added['id']}/seg_00000.vtt", timeout=10)
    assert segment.raise_for_status().headers["content-type"].startswith("text/vtt")
    assert "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000" in segment.text
    cues = parse_captions(segment.content)
    assert [(c.start, c.end, c.text) for c in cues] == [
        (0.1, 0.9, "Bonjour"),
        (1.0, 1.2, "<i>au revoir</i>"),
    ]
    own = httpx.get(f"{base}/captions/{source['id']}/seg_00000.vtt", timeout=10)
    assert [c.text for c in parse_captions(own.raise_for_status().content)] == [
        "This is the first subtitle."
    ]
    missing = httpx.get(f"{base}/captions/{'0' * 32}/index.m3u8", timeout=10)
    assert missing.status_code == 404


def test_a_bad_file_is_refused_with_the_readers_words(server: Server, video_id: str) -> None:
    bad = _post_caption(server, video_id, b"1\n00:01:xx,000 --> 00:01:02,000\nno\n")
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == (
        "the caption file cannot be used: line 2: '00:01:xx,000 --> 00:01:02,000' "
        "is not a cue timing"
    )
    language = _post_caption(server, video_id, SRT.encode(), language="not a tag")
    assert language.status_code == 400
    assert "not a language tag" in language.json()["error"]["message"]
    large = _post_caption(server, video_id, b"x" * (2 * 2**20 + 1))
    assert large.status_code == 413
    anonymous = httpx.post(
        f"{server.url}/v1/videos/{video_id}/captions",
        data={"language": "fr", "name": "x"},
        files={"file": ("a.srt", SRT.encode())},
        timeout=10,
    )
    assert anonymous.status_code == 401


def test_deleting_a_caption_and_then_the_video_takes_them_away(
    server: Server, video_id: str
) -> None:
    added = _post_caption(server, video_id, SRT.encode(), name="Temporary").raise_for_status()
    caption_id = added.json()["id"]
    listed = json.loads(run_cli(server, "captions", "list", video_id, "--json").stdout)
    assert caption_id in [c["id"] for c in listed["captions"]]
    done = run_cli(server, "captions", "delete", video_id, caption_id)
    assert done.returncode == 0, done.stderr
    listed = server.get(f"/v1/videos/{video_id}/captions")
    assert caption_id not in [c["id"] for c in listed["captions"]]
    assert caption_id not in _master(server, video_id)[1]
    again = httpx.delete(
        f"{server.url}/v1/videos/{video_id}/captions/{caption_id}",
        headers=server.headers,
        timeout=10,
    )
    assert again.status_code == 404

    folder = server.data_dir / "objects" / "captions" / video_id
    assert any(folder.iterdir())
    assert run_cli(server, "delete", video_id, "--yes").returncode == 0
    assert not folder.exists() or not any(folder.iterdir())
