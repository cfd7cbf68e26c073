from __future__ import annotations

import pytest

from vodstack import errors
from vodstack.domain.uploads import (
    PartETag,
    PartPlan,
    StoredPart,
    check_completion,
    check_part_list,
)
from vodstack.settings import MiB

PLAN = PartPlan(size=12 * MiB, part_size=5 * MiB)  # parts of 5, 5 and 2 MiB
STORED = {
    1: StoredPart(1, "a" * 32, 5 * MiB),
    2: StoredPart(2, "b" * 32, 5 * MiB),
    3: StoredPart(3, "c" * 32, 2 * MiB),
}
GOOD = [PartETag(1, "a" * 32), PartETag(2, '"' + "B" * 32 + '"'), PartETag(3, "c" * 32)]


def test_a_complete_correct_list_passes() -> None:
    check_part_list(GOOD, PLAN)
    check_completion(GOOD, STORED, PLAN)


@pytest.mark.parametrize(
    ("parts", "error", "message"),
    [
        ([], errors.MissingParts, "at least one part"),
        ([GOOD[0], GOOD[2]], errors.MissingParts, "does not list parts 2"),
        ([GOOD[1], GOOD[0], GOOD[2]], errors.InvalidPartOrder, "ascending"),
        ([GOOD[0], GOOD[0], GOOD[1], GOOD[2]], errors.InvalidPartOrder, "ascending"),
        ([*GOOD, PartETag(4, "d" * 32)], errors.InvalidPartNumber, "out of range"),
        ([PartETag(0, "x"), *GOOD], errors.InvalidPartNumber, "out of range"),
    ],
)
def test_part_lists_against_the_plan(
    parts: list[PartETag], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        check_part_list(parts, PLAN)


def test_parts_never_uploaded() -> None:
    with pytest.raises(errors.MissingParts, match="parts 2-3 were never uploaded"):
        check_completion(GOOD, {1: STORED[1]}, PLAN)


def test_a_wrong_etag() -> None:
    wrong = [GOOD[0], PartETag(2, "f" * 32), GOOD[2]]
    with pytest.raises(errors.EtagMismatch, match="part 2"):
        check_completion(wrong, STORED, PLAN)


def test_a_part_of_the_wrong_size_for_the_plan() -> None:
    short = {**STORED, 3: StoredPart(3, "c" * 32, 1 * MiB)}
    with pytest.raises(errors.PartSizeMismatch, match="part 3 is 1048576 bytes but should be"):
        check_completion(GOOD, short, PLAN)


def test_storage_rules_alone_require_5_mib_for_all_but_the_last_part() -> None:
    small = {**STORED, 1: StoredPart(1, "a" * 32, MiB)}
    with pytest.raises(errors.PartTooSmall, match="part 1"):
        check_completion(GOOD, small)
    check_completion(GOOD, {**STORED, 3: StoredPart(3, "c" * 32, 1)})  # a short last part is fine
