"""`vodstack storage check` on the embedded default (SQLite and a directory), against a
real `vodstack serve` and its worker: orphans and a lost segment found, in words and as
JSON; `--repair` removes the orphans, keeps every published file and has the damaged video
encoded again until it is ready with every file."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import media
from tests.support.processes import Server, start_server
from tests.support.storage_check import (
    LocalObjects,
    check_finds,
    damage,
    encoded_again,
    repair,
    storage_check,
    upload_two,
)

CLIP = "axm_bear_vp9_odd_161x121.webm"  # 1 s: one segment per rung


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("server")) as running:
        yield running


def test_storage_check_finds_and_repairs_orphans_and_a_damaged_video(server: Server) -> None:
    objects = LocalObjects(server.data_dir / "objects")
    damaged_id, healthy_id = upload_two(server, server, media(CLIP))
    clean = storage_check(server.env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "storage is clean" in clean.stdout
    assert json.loads(storage_check(server.env, "--json").stdout)["clean"] is True

    done = damage(server, objects, damaged_id)
    report = check_finds(server.env, done, server.data_dir)
    assert sorted(o["prefix"] for o in report["orphans"]) == sorted(done.orphans)
    assert [d["video_id"] for d in report["damaged"]] == [damaged_id]

    repair(server.env, objects, done, healthy_id)
    encoded_again(server, objects, done)
    after = storage_check(server.env, "--json")
    assert after.returncode == 0, after.stdout + after.stderr
    assert json.loads(after.stdout)["ready_videos_checked"] == 2
