"""Crash points: a worker SIGKILLed at a named step of a job, from inside, so that the kill
lands exactly there. The seam is installed from outside the production code: this module
runs the real worker (``runtime.build_worker``) over ports that kill the process when a
call reaches the step. ``python -m tests.support.crash_points STEP`` runs it on the
environment's settings, as ``vodstack worker`` would.

The steps, in order:
- ``claimed``: the job store handed out a lease;
- ``downloaded``: the source is on the worker's disk;
- ``encoding``: ffmpeg is a fifth done;
- ``uploading``: the first output is stored, the rest are not;
- ``uploaded``: every output is stored, and the publish is about to be sent;
- ``published``: the publish is committed, and the queue message not yet deleted.

And for a split video's parts:
- ``part_encoding``: ffmpeg is a fifth through a chunk other than the first;
- ``part_pause``: not a crash: there, the worker stops its whole process group (SIGSTOP,
  with its ffmpeg), as a paused VM would, and goes on only when sent SIGCONT;
- ``hold:KEY:FILE``: not a crash: part KEY's worker waits, lease kept, before publishing it
  until FILE exists, so a test can look at the video as it is meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast, get_args

from vodstack.adapters.storage import open_storage
from vodstack.domain.chunks import PartOutput, PartSpec, VideoPlan
from vodstack.domain.jobs import Lease
from vodstack.domain.media import PartResult, Rung, SourceInfo, TranscodeResult
from vodstack.logs import configure_logging
from vodstack.ports import CommandCallback, JobStore, ProgressCallback, Storage, Transcoder
from vodstack.runtime import build_worker, open_backends, open_transcoder
from vodstack.settings import Settings

log = logging.getLogger(__name__)

Step = Literal[
    "claimed",
    "downloaded",
    "encoding",
    "uploading",
    "uploaded",
    "published",
    "part_encoding",
    "part_pause",
]
STEPS: tuple[Step, ...] = get_args(Step)[:6]  # a plain job's steps
HOLD_POLL_SECONDS = 0.1


def crash(step: Step) -> None:
    log.warning("crash point %r reached: killing this process", step)
    os.kill(os.getpid(), signal.SIGKILL)


class _Delegating:
    def __init__(self, inner: Any, step: Step) -> None:
        self._inner = inner
        self._step = step

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CrashingJobs(_Delegating):
    async def publish_part(self, lease: Lease, output: PartOutput) -> bool:
        kind, _, rest = str(self._step).partition(":")
        key, _, release = rest.partition(":")
        if kind == "hold" and lease.part == key and output.complete:
            log.warning("holding part %s until %s exists", key, release)
            while not Path(release).exists():  # noqa: ASYNC110 (another process makes it)
                await asyncio.sleep(HOLD_POLL_SECONDS)
        published: bool = await self._inner.publish_part(lease, output)
        return published

    async def claim(self, owner: str, video_id: str | None = None) -> Lease | None:
        lease: Lease | None = await self._inner.claim(owner, video_id)
        if lease is not None and self._step == "claimed":
            crash(self._step)
        return lease

    async def publish(self, lease: Lease, *args: Any, **options: Any) -> bool:
        if self._step == "uploaded":
            crash(self._step)
        published: bool = await self._inner.publish(lease, *args, **options)
        if published and self._step == "published":
            crash(self._step)
        return published


class CrashingStorage(_Delegating):
    async def download_file(self, key: str, path: Path) -> None:
        await self._inner.download_file(key, path)
        if self._step == "downloaded":
            crash(self._step)

    async def upload_file(self, path: Path, key: str, content_type: str | None = None) -> None:
        await self._inner.upload_file(path, key, content_type)
        if self._step == "uploading" and key.startswith("outputs/"):
            crash(self._step)


class CrashingTranscoder(_Delegating):
    _paused = False

    async def transcode(
        self,
        source: Path,
        info: SourceInfo,
        out_dir: Path,
        on_progress: ProgressCallback,
        on_command: CommandCallback | None = None,
        *,
        ladder: Sequence[Rung] | None = None,
    ) -> TranscodeResult:
        def progress(fraction: float) -> None:
            on_progress(fraction)
            if fraction >= 0.2 and self._step == "encoding":
                crash(self._step)

        result: TranscodeResult = await self._inner.transcode(
            source, info, out_dir, progress, on_command, ladder=ladder
        )
        return result

    async def transcode_part(
        self,
        source: Path | str,
        plan: VideoPlan,
        part: PartSpec,
        out_dir: Path,
        on_progress: ProgressCallback,
        *args: Any,
    ) -> PartResult:
        def progress(fraction: float) -> None:
            on_progress(fraction)
            if fraction < 0.2 or part.index == 0 or self._paused:
                return
            if self._step == "part_encoding":
                crash(self._step)
            if self._step == "part_pause":
                self._paused = True
                log.warning("pausing at %s of %s", self._step, part.key)
                os.killpg(os.getpgrp(), signal.SIGSTOP)

        result: PartResult = await self._inner.transcode_part(
            source, plan, part, out_dir, progress, *args
        )
        return result


async def run_crashing_worker(settings: Settings, step: Step, concurrency: int = 1) -> None:
    storage = cast(Storage, CrashingStorage(open_storage(settings), step))
    async with open_backends(settings, storage=storage) as backends:
        jobs = cast(JobStore, CrashingJobs(backends.stores.jobs, step))
        backends = dataclasses.replace(
            backends, stores=dataclasses.replace(backends.stores, jobs=jobs)
        )
        transcoder = cast(Transcoder, CrashingTranscoder(open_transcoder(settings), step))
        worker = build_worker(backends, transcoder=transcoder, concurrency=concurrency)
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, worker.stop)
        await worker.run()


if __name__ == "__main__":
    chosen = sys.argv[1]
    if chosen not in get_args(Step) and not chosen.startswith("hold:"):
        sys.exit(f"unknown step {chosen!r}: one of {', '.join(STEPS)}")
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    slots = int(sys.argv[3]) if sys.argv[2:3] == ["--concurrency"] else 1
    asyncio.run(run_crashing_worker(settings, cast(Step, chosen), slots))
