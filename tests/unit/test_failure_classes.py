"""Failed attempts are counted by class of failure: a small, fixed set of label values."""

from __future__ import annotations

import pytest

from vodstack import errors
from vodstack.services.processing import failure_class


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (errors.InvalidMedia("no video stream"), "bad_input"),
        (errors.TranscodeFailed("ffmpeg exited with 1"), "ffmpeg"),
        (errors.TranscodeStalled(), "timeout"),
        (TimeoutError(), "timeout"),
        (errors.StorageUnavailable("S3 answered 503"), "storage"),
        (errors.ObjectNotFound(), "storage"),
        (errors.DatabaseUnavailable(), "database"),
        (errors.DatabaseError(), "database"),
        (OSError(28, "No space left on device"), "other"),
        (RuntimeError("anything else"), "other"),
    ],
)
def test_failure_classes(exc: BaseException, expected: str) -> None:
    assert failure_class(exc) == expected
