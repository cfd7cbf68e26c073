"""The chaos benchmark's audit on made-up evidence: that it counts what it claims to count,
which a run where nothing goes wrong cannot show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bench.chaos import Evidence, Report, audit_job, audit_outputs, playlist_errors

VIDEO = "v1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Chunk 1 at 240p and the audio were each published by their second attempt.
PUBLISHED = {"c0t1": 1, "c1t1": 2, "c0t2": 1, "c1t2": 1, "audio": 2}
RUNG = {"c0t1": "240p", "c1t1": "240p", "c0t2": "332p", "c1t2": "332p", "audio": "audio"}


def _folder(part: str, attempt: int) -> str:
    return f"a{attempt}" if part == "audio" else f"{part.partition('t')[0]}a{attempt}"


def _evidence(left: set[str] | None = None) -> Evidence:
    """A split video whose parts are all published, and ``left``: more stored keys."""
    parts = [
        {
            "id": part,
            "video_id": VIDEO,
            "part": part,
            "status": "ready",
            "epoch": attempt,
            "published_epoch": attempt,
            "split": False,
            "outputs": {
                "rungs": [{"rung": RUNG[part], "folder": _folder(part, attempt)}],
                "tiles": [[0.0, f"{_folder(part, attempt)}/sheet_000.jpg", 0, 0, 160, 90, 7.0]]
                if RUNG[part] == "240p"
                else [],
            },
        }
        for part, attempt in PUBLISHED.items()
    ]
    own = {
        "id": "job",
        "video_id": VIDEO,
        "part": "",
        "status": "ready",
        "epoch": 1,
        "published_epoch": 1,
        "split": True,
        "outputs": None,
    }
    stored = {
        f"e1/{RUNG[p]}/{_folder(p, a)}/{name}"
        for p, a in PUBLISHED.items()
        for name in ("init.mp4", "seg_00000.m4s", "seg_00001.m4s")
    }
    stored |= {
        f"e1/storyboard/{_folder(p, a)}/sheet_000.jpg"
        for p, a in PUBLISHED.items()
        if RUNG[p] == "240p"
    }
    return Evidence(
        {}, {VIDEO: [own, *parts]}, {VIDEO: {"status": "ready"}}, {VIDEO: stored | (left or set())}
    )


def _report() -> Report:
    return Report(uploads=1, workers=1, kill_probability=0.5, chunked=True)


def _event(kind: str, epoch: int, seconds: float, worker: str | None = "w") -> dict[str, Any]:
    return {"kind": kind, "epoch": epoch, "worker": worker, "at": T0 + timedelta(seconds=seconds)}


def test_only_the_published_attempts_folders_may_be_left() -> None:
    report = _report()
    evidence = _evidence()
    audit_outputs(report, evidence, VIDEO, evidence.own_job(VIDEO) or {})
    assert (report.leftover_epochs, report.leftover_attempts) == (0, 0)


@pytest.mark.parametrize(
    ("left", "epochs", "attempts"),
    [
        ({"e1/240p/c1a1/seg_00001.m4s"}, 0, 1),  # a killed attempt of chunk 1 at 240p
        ({"e1/audio/a1/seg_00000.m4s", "e1/audio/a1/init.mp4"}, 0, 1),  # the audio's first
        ({"e1/332p/c1a2/seg_00001.m4s"}, 0, 1),  # an attempt after the published one
        ({"e1/storyboard/c1a1/sheet_000.jpg"}, 0, 1),  # the killed attempt's sheets
        ({"e2/240p/c0a1/seg_00000.m4s"}, 1, 0),  # an epoch the video was not split at
    ],
)
def test_what_an_unpublished_attempt_left_is_counted(
    left: set[str], epochs: int, attempts: int
) -> None:
    report = _report()
    evidence = _evidence(left)
    audit_outputs(report, evidence, VIDEO, evidence.own_job(VIDEO) or {})
    assert (report.leftover_epochs, report.leftover_attempts) == (epochs, attempts)


def test_a_part_is_published_once_and_its_video_assembled_once() -> None:
    evidence = _evidence()
    part, own = evidence.jobs[VIDEO][1], evidence.jobs[VIDEO][0]
    report = _report()
    audit_job(report, part, [_event("claimed", 1, 0), _event("ready", 1, 1)], ready=True)
    split = [_event("claimed", 1, 0), _event("split", 1, 1), _event("assembled", 1, 5, None)]
    audit_job(report, own, split, ready=True)
    assert (report.double_publishes, report.problems) == (0, [])
    audit_job(report, part, [_event("ready", 1, 1), _event("ready", 1, 2)], ready=True)
    audit_job(report, own, [*split, _event("assembled", 1, 6, None)], ready=True)
    assert report.double_publishes == 2
    audit_job(report, part, [_event("claimed", 1, 0)], ready=True)
    assert report.problems == [f"{VIDEO}/c0t1: ready, but no 'ready' in its timeline"]


def test_a_part_listed_from_another_attempts_folder_is_a_problem() -> None:
    part = {**_evidence().jobs[VIDEO][2], "published_epoch": 1}  # c1t1 lists c1a2
    report = _report()
    audit_job(report, part, [_event("ready", 1, 1)], ready=True)
    assert report.problems == [f"{VIDEO}/c1t1: published attempt 1, listed {{'c1a2'}}"]


def test_leases_overlap_per_job_row() -> None:
    """The old holder of a part acting after the part's next claim overlaps; acting after
    another part's claim does not."""
    part = _evidence().jobs[VIDEO][1]
    report = _report()
    taken_over = [_event("claimed", 1, 0), _event("claimed", 2, 5), _event("encoding", 1, 6)]
    audit_job(report, part, taken_over, ready=False)
    assert report.overlapping_leases == 1
    audit_job(report, part, [_event("claimed", 1, 0), _event("encoding", 1, 6)], ready=False)
    assert report.overlapping_leases == 1


PRESIGNED = "http://127.0.0.1:9/bucket/vod/outputs/v1/e1/240p/{}?X-Amz-Signature=x"
PLAYLIST_URL = "http://127.0.0.1:8/v1/videos/v1/hls/e1/240p/index.m3u8?token=t"


def _playlist(*segments: str, ended: bool = True, presigned: bool = True) -> str:
    def uri(name: str) -> str:
        return PRESIGNED.format(name) if presigned else f"{name}?token=t"

    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:6", f'#EXT-X-MAP:URI="{uri("c0a1/init.mp4")}"']
    for name in segments:
        lines += ["#EXTINF:6.0,", uri(name)]
    return "\n".join([*lines, *(["#EXT-X-ENDLIST"] if ended else [])]) + "\n"


@pytest.mark.parametrize("presigned", [True, False])
def test_a_playlist_that_lists_every_stored_segment_once_passes(presigned: bool) -> None:
    text = _playlist(
        "c0a1/seg_00000.m4s", "c1a2/seg_00001.m4s", "c1a2/seg_00002.m4s", presigned=presigned
    )
    stored = {"e1/240p/c0a1/init.mp4", "e1/240p/c0a1/seg_00000.m4s"}
    stored |= {"e1/240p/c1a2/seg_00001.m4s", "e1/240p/c1a2/seg_00002.m4s"}
    evidence = Evidence({}, {}, {}, {VIDEO: stored})
    assert playlist_errors(text, PLAYLIST_URL, VIDEO, evidence) == []


@pytest.mark.parametrize(
    ("segments", "ended", "error"),
    [
        (["c0a1/seg_00000.m4s", "c1a2/seg_00001.m4s", "c1a1/seg_00001.m4s"], True, "twice: [1]"),
        (["c0a1/seg_00000.m4s", "c1a2/seg_00002.m4s"], True, "not 0..n-1"),
        (["c1a2/seg_00001.m4s"], True, "not 0..n-1"),
        ([], True, "not 0..n-1"),
        (["c0a1/seg_00000.m4s", "c1a2/seg_00001.m4s"], False, "no ENDLIST"),
        (["c0a1/seg_00000.m4s", "c1a3/seg_00001.m4s"], True, "not stored, such as e1/240p/c1a3"),
    ],
)
def test_a_playlist_that_skips_repeats_stops_or_names_a_missing_file_fails(
    segments: list[str], ended: bool, error: str
) -> None:
    stored = {"e1/240p/c0a1/init.mp4", "e1/240p/c0a1/seg_00000.m4s"}
    stored |= {"e1/240p/c1a1/seg_00001.m4s", "e1/240p/c1a2/seg_00001.m4s"}
    stored |= {"e1/240p/c1a2/seg_00002.m4s"}
    evidence = Evidence({}, {}, {}, {VIDEO: stored})
    errors = playlist_errors(_playlist(*segments, ended=ended), PLAYLIST_URL, VIDEO, evidence)
    assert any(error in e for e in errors), errors


def test_a_playlist_of_a_split_video_lists_every_segment_its_parts_published() -> None:
    text = _playlist("c0a1/seg_00000.m4s", "c1a2/seg_00001.m4s")
    stored = {"e1/240p/c0a1/init.mp4", "e1/240p/c0a1/seg_00000.m4s", "e1/240p/c1a2/seg_00001.m4s"}
    evidence = Evidence({}, {}, {}, {VIDEO: stored})
    assert playlist_errors(text, PLAYLIST_URL, VIDEO, evidence, published=2) == []
    errors = playlist_errors(text, PLAYLIST_URL, VIDEO, evidence, published=3)
    assert errors == ["2 segments listed of the 3 published"]
