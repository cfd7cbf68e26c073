"""Upload planning and validation: pure functions, no I/O."""

from __future__ import annotations

import itertools
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from vodstack import errors

MiB = 1024 * 1024
GiB = 1024 * MiB
# S3's own multipart limits; the local storage keeps them so the two behave alike.
S3_MIN_PART_SIZE = 5 * MiB
S3_MAX_PART_SIZE = 5 * GiB
S3_MAX_PARTS = 10_000
MAX_FILENAME_LENGTH = 255


class UploadStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class PartPlan:
    """How a file of ``size`` bytes is cut into parts: all ``part_size`` but the last."""

    size: int
    part_size: int

    @property
    def part_count(self) -> int:
        return math.ceil(self.size / self.part_size)

    def size_of(self, part_number: int) -> int:
        self.check_part_number(part_number)
        if part_number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)

    def offset_of(self, part_number: int) -> int:
        self.check_part_number(part_number)
        return (part_number - 1) * self.part_size

    def check_part_number(self, part_number: int) -> None:
        if not 1 <= part_number <= self.part_count:
            raise errors.InvalidPartNumber(
                f"part number {part_number} is out of range 1..{self.part_count}"
            )


def plan_parts(size: int, preferred_part_size: int, max_size: int) -> PartPlan:
    """Choose the part size: the preferred one, grown (in whole MiB) until at most
    10,000 parts are needed. Every part but the last is at least 5 MiB, as S3 requires."""
    if size <= 0:
        raise errors.InvalidSize(f"size must be a positive number of bytes, got {size}")
    if size > max_size:
        raise errors.InvalidSize(f"size {size} exceeds the maximum upload size of {max_size} bytes")
    part_size = max(preferred_part_size, S3_MIN_PART_SIZE)
    needed = math.ceil(size / S3_MAX_PARTS)
    if needed > part_size:
        part_size = math.ceil(needed / MiB) * MiB
    if part_size > S3_MAX_PART_SIZE:
        raise errors.InvalidSize(f"size {size} is too large to upload in {S3_MAX_PARTS} parts")
    return PartPlan(size=size, part_size=part_size)


def check_filename(filename: str) -> str:
    """A filename is kept only as a label: it must be one plain name, never a path."""
    name = unicodedata.normalize("NFC", filename)
    if not name.strip():
        raise errors.InvalidFilename("filename must not be empty")
    if len(name) > MAX_FILENAME_LENGTH:
        raise errors.InvalidFilename(f"filename is longer than {MAX_FILENAME_LENGTH} characters")
    if "/" in name or "\\" in name:
        raise errors.InvalidFilename("filename must not contain path separators")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise errors.InvalidFilename("filename must not contain control characters")
    if name in (".", ".."):
        raise errors.InvalidFilename("filename must not be '.' or '..'")
    return name


@dataclass(frozen=True, slots=True)
class PartETag:
    """A part as a client names it when completing: its number and the ETag it was given."""

    part_number: int
    etag: str


@dataclass(frozen=True, slots=True)
class StoredPart:
    """A part as storage holds it."""

    part_number: int
    etag: str
    size: int


def normalize_etag(etag: str) -> str:
    """S3 quotes ETags and clients may or may not; compare them bare and lower-case."""
    return etag.strip().strip('"').lower()


def check_part_order(parts: Sequence[PartETag]) -> None:
    """Parts in a completion must be strictly ascending, as S3 requires."""
    for before, after in itertools.pairwise(parts):
        if after.part_number <= before.part_number:
            raise errors.InvalidPartOrder(
                f"part {after.part_number} follows part {before.part_number}: parts must be "
                "listed in ascending order, each once"
            )


def check_part_list(requested: Sequence[PartETag], plan: PartPlan) -> None:
    """A completion must name every part of the plan, once each, in ascending order."""
    if not requested:
        raise errors.MissingParts("a completion must list at least one part")
    for part in requested:
        plan.check_part_number(part.part_number)
    check_part_order(requested)
    missing = sorted(set(range(1, plan.part_count + 1)) - {p.part_number for p in requested})
    if missing:
        raise errors.MissingParts(f"the completion does not list parts {_ranges(missing)}")


def check_completion(
    requested: Sequence[PartETag], stored: Mapping[int, StoredPart], plan: PartPlan | None = None
) -> None:
    """Check a completion against the parts storage holds, by S3's rules; given the plan,
    also check that each part has exactly its planned size, so a completed upload is always
    the file that was announced."""
    if not requested:
        raise errors.MissingParts("a completion must list at least one part")
    check_part_order(requested)
    not_uploaded = [p.part_number for p in requested if p.part_number not in stored]
    if not_uploaded:
        raise errors.MissingParts(f"parts {_ranges(not_uploaded)} were never uploaded")
    for part in requested:
        held = stored[part.part_number]
        if normalize_etag(part.etag) != normalize_etag(held.etag):
            raise errors.EtagMismatch(
                f"part {part.part_number}: ETag {part.etag!r} does not match the stored "
                f"part's ETag {held.etag!r}; upload the part again"
            )
        if part is not requested[-1] and held.size < S3_MIN_PART_SIZE:
            raise errors.PartTooSmall(
                f"part {part.part_number} is {held.size} bytes; every part but the last "
                f"must be at least {S3_MIN_PART_SIZE} bytes"
            )
        if plan is not None and held.size != plan.size_of(part.part_number):
            raise errors.PartSizeMismatch(
                f"part {part.part_number} is {held.size} bytes but should be "
                f"{plan.size_of(part.part_number)}; upload the part again"
            )


def _ranges(numbers: Iterable[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7': a readable list however many parts are missing."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    video_id: str | None
    storage_upload_id: str
    storage_key: str
    size: int
    part_size: int
    status: UploadStatus
    owner_id: str | None = None

    @property
    def plan(self) -> PartPlan:
        return PartPlan(self.size, self.part_size)
