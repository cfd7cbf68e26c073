from __future__ import annotations

import pytest

from vodstack import errors
from vodstack.domain.uploads import PartPlan, check_filename, plan_parts
from vodstack.settings import S3_MAX_PARTS, S3_MIN_PART_SIZE, GiB, MiB

TiB = 1024 * GiB


@pytest.mark.parametrize(
    ("size", "preferred", "part_size", "part_count"),
    [
        (1, 16 * MiB, 16 * MiB, 1),
        (16 * MiB, 16 * MiB, 16 * MiB, 1),
        (16 * MiB + 1, 16 * MiB, 16 * MiB, 2),
        (100 * MiB, 5 * MiB, 5 * MiB, 20),
        # 10,000 parts of 16 MiB hold 156.25 GiB; past that the part size grows in whole MiB.
        (10_000 * 16 * MiB, 16 * MiB, 16 * MiB, 10_000),
        (10_000 * 16 * MiB + 1, 16 * MiB, 17 * MiB, 9_412),
        (1 * TiB, 16 * MiB, 105 * MiB, 9_987),
        # A preferred size under S3's minimum is raised to it.
        (12 * MiB, 1 * MiB, 5 * MiB, 3),
    ],
)
def test_plan_parts(size: int, preferred: int, part_size: int, part_count: int) -> None:
    plan = plan_parts(size, preferred, max_size=5 * TiB)
    assert (plan.part_size, plan.part_count) == (part_size, part_count)
    assert plan.part_count <= S3_MAX_PARTS
    assert plan.part_size >= S3_MIN_PART_SIZE
    sizes = [plan.size_of(n) for n in (1, plan.part_count)]
    assert 0 < sizes[-1] <= plan.part_size
    assert plan.part_size * (plan.part_count - 1) + sizes[-1] == size


@pytest.mark.parametrize("size", [0, -1, -5 * MiB])
def test_plan_rejects_sizes_that_are_not_positive(size: int) -> None:
    with pytest.raises(errors.InvalidSize, match="positive"):
        plan_parts(size, 16 * MiB, max_size=GiB)


def test_plan_rejects_sizes_over_the_maximum() -> None:
    with pytest.raises(errors.InvalidSize, match="exceeds the maximum"):
        plan_parts(GiB + 1, 16 * MiB, max_size=GiB)


def test_plan_rejects_what_10000_parts_of_5_gib_cannot_hold() -> None:
    with pytest.raises(errors.InvalidSize, match="10000 parts"):
        plan_parts(50 * TiB, 16 * MiB, max_size=100 * TiB)


def test_offsets_tile_the_file() -> None:
    plan = PartPlan(size=23, part_size=10)
    assert [(plan.offset_of(n), plan.size_of(n)) for n in (1, 2, 3)] == [(0, 10), (10, 10), (20, 3)]


@pytest.mark.parametrize("number", [0, -1, 4, 10_001])
def test_part_numbers_out_of_range(number: int) -> None:
    with pytest.raises(errors.InvalidPartNumber, match=r"out of range 1\.\.3"):
        PartPlan(size=23, part_size=10).size_of(number)


@pytest.mark.parametrize(
    "name", ["clip.mp4", "My Holiday (2024).mov", "видео.webm", "a" * 255, "..hidden.mp4"]
)
def test_acceptable_filenames(name: str) -> None:
    assert check_filename(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("../etc/passwd", "path separators"),
        ("dir/clip.mp4", "path separators"),
        ("C:\\clip.mp4", "path separators"),
        ("clip\x00.mp4", "control characters"),
        ("clip\n.mp4", "control characters"),
        ("clip\u202e4pm.exe", "control characters"),
        ("..", "'.' or '..'"),
        ("a" * 256, "longer than 255"),
    ],
)
def test_rejected_filenames(name: str, reason: str) -> None:
    with pytest.raises(errors.InvalidFilename, match=reason):
        check_filename(name)
