"""One leased job, start to finish: download, probe, encode, upload under the epoch prefix,
publish. A heartbeat side task keeps the lease; losing it cancels the work, which kills
ffmpeg."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import mimetypes
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from vodstack import errors, metrics, tracing
from vodstack.domain.budgets import truncation_warning
from vodstack.domain.captions import (
    TEXT_SUBTITLE_CODECS,
    Caption,
    CaptionError,
    CaptionOrigin,
    caption_key,
    parse_captions,
    render_webvtt,
    source_caption_id,
    source_caption_name,
    source_language,
)
from vodstack.domain.chunks import (
    SHORTEST_SHARE_SECONDS,
    PartKind,
    PartOutput,
    PartSpec,
    RungOutput,
    VideoPlan,
    attempt_folders,
    describe_plan,
    part_folder,
    plan_video,
)
from vodstack.domain.jobs import JobStatus, Lease, LeaseLost, Outcome, Settled, backoff
from vodstack.domain.ladder import describe_ladder, output_frame_rate
from vodstack.domain.media import (
    EncoderChoice,
    PartResult,
    Rung,
    SourceInfo,
    SubtitleTrack,
    TranscodeResult,
)
from vodstack.domain.pictures import STORYBOARD
from vodstack.domain.quality import DEFAULT_MIN_VMAF, Receipt, describe_rejections
from vodstack.domain.videos import HLS_CONTENT_TYPES, output_prefix
from vodstack.ports import JobStore, Storage, Transcoder, WorkerRoster

log = logging.getLogger(__name__)

UPLOAD_CONCURRENCY = 8
# A source's subtitle track, as WebVTT: a film's is well under a megabyte.
SOURCE_CAPTION_LIMIT = 16 * 2**20
# A part's worker reads the source through a presigned URL for no longer than this.
SOURCE_URL_SECONDS = 6 * 3600

KeepAlive = Callable[[], Awaitable[None]]


@dataclasses.dataclass
class _Attempt:
    """What the work and its heartbeat share: how far the work got, and whether the
    heartbeat found the lease lost (then it cancels the work, which reports this)."""

    fraction: float = 0.0
    lost: LeaseLost | None = None


class Processor:
    def __init__(
        self,
        jobs: JobStore,
        storage: Storage,
        transcoder: Transcoder,
        work_dir: Path,
        lease_seconds: float,
        heartbeat_seconds: float,
        chunking: ChunkPolicy | None = None,
        roster: WorkerRoster | None = None,
    ) -> None:
        self._chunking = chunking
        self._roster = roster
        self._jobs = jobs
        self._storage = storage
        self._transcoder = transcoder
        self._work_dir = work_dir
        self._lease_seconds = lease_seconds
        self._heartbeat_seconds = heartbeat_seconds

    async def run(self, lease: Lease, keep_alive: KeepAlive | None = None) -> Settled:
        """Process the job to a recorded end: published, failed, retried, or released
        when this task is cancelled by a shutdown. ``keep_alive`` runs after every
        heartbeat (it extends the queue message's visibility)."""
        folder = self._work_dir / f"{lease.job_id}-e{lease.epoch}"
        attempt = _Attempt()
        log.info("job started: attempt %d of %d", lease.attempts, lease.max_attempts)
        # A child of the span that completed the upload, in whichever process that was.
        with tracing.span(
            "job",
            parent=lease.trace_context,
            video_id=lease.video_id,
            epoch=lease.epoch,
            attempt=lease.attempts,
            worker=lease.owner,
        ) as span:
            work = asyncio.create_task(
                self._work(lease, folder, attempt), name=f"job {lease.job_id}"
            )
            keeper = asyncio.create_task(
                self._keep_lease(lease, attempt, work, keep_alive),
                name=f"heartbeat {lease.job_id}",
            )
            try:
                settled = await self._settle(lease, work)
                span.set("outcome", settled.outcome.value)
                return settled
            finally:
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)
                await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _settle(self, lease: Lease, work: asyncio.Task[Settled | None]) -> Settled:
        try:
            done = await asyncio.shield(work)
        except asyncio.CancelledError:
            # We were cancelled (shutdown), not the work: stop it and hand the job back.
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            await self._discard(lease)
            await asyncio.shield(self._jobs.release(lease))
            raise
        except LeaseLost as lost:
            log.warning(
                "lease lost on job %s epoch %s (%s); stopped",
                lease.job_id,
                lease.epoch,
                lost.reason,
            )
            await self._discard(lease)
            return _counted(Settled(Outcome.LOST))
        except errors.InvalidMedia as exc:
            log.warning("job failed: %s", exc.message)
            failed = await self._jobs.fail(lease, exc.message)
            return _counted(Settled(Outcome.FAILED if failed else Outcome.LOST), BAD_INPUT)
        except Exception as exc:
            reason = _describe(exc)
            log.warning("job %s epoch %s: %s", lease.job_id, lease.epoch, reason)
            await self._discard(lease)
            status = await self._jobs.retry_or_fail(lease, reason)
            if status is JobStatus.QUEUED:
                retry_in = backoff(lease.attempts).total_seconds()
                return _counted(Settled(Outcome.RETRYING, retry_in), failure_class(exc))
            outcome = Outcome.GAVE_UP if status is JobStatus.FAILED else Outcome.LOST
            return _counted(Settled(outcome), failure_class(exc))
        if done is None:
            log.warning(
                "lease lost on job %s epoch %s before publishing", lease.job_id, lease.epoch
            )
            await self._discard(lease)
            return _counted(Settled(Outcome.LOST))
        log.info("job %s", "published" if done.outcome is Outcome.PUBLISHED else "split")
        return _counted(done)

    async def _keep_lease(
        self,
        lease: Lease,
        attempt: _Attempt,
        work: asyncio.Task[Settled | None],
        keep_alive: KeepAlive | None,
    ) -> None:
        """Extend the lease every heartbeat, and sooner when progress moved, so people see it.
        When the lease is lost, or cannot be renewed before it would run out, stop the work."""
        last_ok = sent_at = time.monotonic()
        sent = 0.0
        while not work.done():
            await asyncio.sleep(min(1.0, self._heartbeat_seconds))
            now = time.monotonic()
            due = now - sent_at >= self._heartbeat_seconds
            moved = attempt.fraction - sent >= 0.01
            if not (due or moved):
                continue
            sent_at = now
            lost = "another worker took the job over"
            try:
                alive = await self._jobs.heartbeat(lease, attempt.fraction)
            except Exception as exc:
                log.warning("heartbeat failed for job %s: %s", lease.job_id, exc)
                alive = now - last_ok < self._lease_seconds - self._heartbeat_seconds
                lost = "the lease could not be renewed before it ran out"
            else:
                last_ok, sent = now, attempt.fraction
                if alive and keep_alive is not None and due:
                    try:
                        await keep_alive()
                    except Exception as exc:  # a redelivery, which the lease makes harmless
                        log.warning("could not extend job %s's message: %s", lease.job_id, exc)
            if not alive:
                attempt.lost = LeaseLost(lost)
                work.cancel()
                return

    async def _work(self, lease: Lease, folder: Path, attempt: _Attempt) -> Settled | None:
        try:
            if lease.spec is not None:
                return await self._encode_part(lease, lease.spec, folder, attempt)
            return await self._encode_and_publish(lease, folder, attempt)
        except asyncio.CancelledError:
            if attempt.lost is not None:  # cancelled by the heartbeat, not by a shutdown
                raise attempt.lost from None
            raise

    async def _encode_and_publish(
        self, lease: Lease, folder: Path, attempt: _Attempt
    ) -> Settled | None:
        """PUBLISHED, or SPLIT into parts that every worker may take; None if the lease was
        lost just before."""
        out_dir = folder / "out"
        out_dir.mkdir(parents=True)
        source, info = await self._probe(lease, folder)
        ladder = await self._transcoder.plan_ladder(source, info)
        await self._record(lease, "planned", describe_ladder(ladder))
        plan = await self._plan(info, ladder)
        if plan is not None:
            return await self._split(lease, source, plan)

        def on_progress(fraction: float) -> None:
            attempt.fraction = fraction

        async def on_command(command: str, encoder: EncoderChoice) -> None:
            log.info("job %s epoch %s: %s", lease.job_id, lease.epoch, encoder.reason)
            await self._record(
                lease,
                "encoding",
                f"encoding with {encoder.name}: {encoder.reason}",
                {"command": command, "encoder": encoder.name},
            )

        with tracing.span("encode") as span:
            started = time.monotonic()
            result = await self._transcoder.transcode(
                source, info, out_dir, on_progress, on_command, ladder=ladder
            )
            _count_encode(result, time.monotonic() - started)
            span.set("encoder", result.encoder.name)
        await self._record(
            lease,
            "encoded",
            ", ".join(f"{r.name} {r.width}x{r.height}" for r in result.renditions),
        )
        receipt = await self._sign(lease, source, result.receipt)
        with tracing.span("publish"):
            prefix = output_prefix(lease.video_id, lease.epoch)
            await self._upload(out_dir, prefix, result)
            # Before the publish, not after: a worker that dies the moment it has published
            # would leave the earlier epochs behind for good. Nothing serves them meanwhile:
            # only the published epoch is ever played.
            await self._collect_garbage(lease)
            renditions = [dataclasses.asdict(r) for r in result.renditions]
            published = await self._jobs.publish(
                lease,
                renditions,
                result.duration,
                result.encoder.name,
                cover_time=result.cover_time,
                receipt=None if receipt is None else receipt.to_json(),
            )
            return Settled(Outcome.PUBLISHED) if published else None

    async def _plan(self, info: SourceInfo, ladder: Sequence[Rung]) -> VideoPlan | None:
        """The video's parts, cut for the live job slots; None: one piece."""
        if self._chunking is None:
            return None
        slots = await self._live_slots()
        plan = self._chunking.plan(info, ladder, slots)
        if plan is not None:
            log.info("cut for %d live job slot(s): %s", slots, describe_plan(plan))
        return plan

    async def _live_slots(self) -> int:
        """The job slots alive to share a video's parts, this one among them; one when
        the roster cannot say (the plan is then as coarse as for one worker)."""
        if self._roster is None:
            return 1
        try:
            return max(1, await self._roster.live_slots())
        except Exception as exc:
            log.warning("no count of the live workers, planning for one: %s", exc)
            return 1

    async def _split(self, lease: Lease, source: Path, plan: VideoPlan) -> Settled | None:
        digest = await asyncio.to_thread(file_sha256, source)
        plan = dataclasses.replace(plan, source_sha256=digest)
        await self._collect_garbage(lease)
        if not await self._jobs.split(lease, plan):
            return None
        return Settled(Outcome.SPLIT, parts=len(plan.parts))

    async def _sign(self, lease: Lease, source: Path, receipt: Receipt | None) -> Receipt | None:
        """The receipt with the source's digest; its rejected rungs go in the timeline."""
        if receipt is None:
            return None
        digest = await asyncio.to_thread(file_sha256, source)
        if receipt.rejected:
            await self._record(lease, "rejected", describe_rejections(receipt.rejected))
        return dataclasses.replace(receipt, source_sha256=digest)

    async def _probe(self, lease: Lease, folder: Path) -> tuple[Path, SourceInfo]:
        source = folder / "source"
        with tracing.span("download"):
            await self._storage.download_file(lease.source_key, source)
        info = await self._transcoder.probe(source)
        warning = truncation_warning(info.declared_duration, info.duration)
        warnings = [] if warning is None else [warning]
        if info.subtitles:
            warnings += await self._source_captions(lease, source, info, folder / "captions")
        if warnings and not await self._jobs.warn(lease, warnings):
            raise LeaseLost("another worker took the job over")
        await self._record(
            lease,
            "probed",
            f"{info.display_width}x{info.display_height} {info.video_codec}, "
            f"{info.duration:.1f} s, {'with' if info.has_audio else 'no'} audio",
            dataclasses.asdict(info),
        )
        return source, info

    async def _source_captions(
        self, lease: Lease, source: Path, info: SourceInfo, out_dir: Path
    ) -> list[str]:
        """The source's text subtitle tracks become the video's captions, each stored as
        WebVTT; what the owner should know (a track left out) comes back as warnings."""
        text = [t for t in info.subtitles if t.codec in TEXT_SUBTITLE_CODECS]
        warnings = []
        if len(text) < len(info.subtitles):
            skipped = len(info.subtitles) - len(text)
            warnings.append(
                f"{skipped} subtitle track{'s' if skipped > 1 else ''} of the source "
                "hold pictures, not text, and cannot be shown as captions"
            )
        if not text:
            return warnings
        try:
            files = await self._transcoder.extract_subtitles(
                source, [t.index for t in text], out_dir
            )
        except errors.TranscodeFailed as exc:
            return [*warnings, f"the source's subtitles could not be read: {exc.message}"]
        captions = []
        for track in text:
            path = files.get(track.index)
            if path is None:
                continue
            try:
                captions.append(await self._store_source_caption(lease, track, path))
            except CaptionError as exc:
                warnings.append(f"subtitle track {track.index + 1} cannot be used: {exc}")
        if not await self._jobs.source_captions(lease, captions):
            raise LeaseLost("another worker took the job over")
        return warnings

    async def _store_source_caption(
        self, lease: Lease, track: SubtitleTrack, path: Path
    ) -> Caption:
        """The track's file, read back as the caption reader reads an upload (so that what
        players get is checked WebVTT), stored. Raises CaptionError."""
        data = await asyncio.to_thread(path.read_bytes)
        cues = parse_captions(data, SOURCE_CAPTION_LIMIT)
        language = source_language(track.language)
        caption = Caption(
            source_caption_id(lease.video_id, track.index),
            lease.video_id,
            language,
            source_caption_name(track.title, language, track.index),
            CaptionOrigin.SOURCE,
            # A microsecond apart, so that captions, listed oldest first, keep the order of
            # the source's tracks.
            self._jobs.now() + timedelta(microseconds=track.index),
        )
        await asyncio.to_thread(path.write_text, render_webvtt(cues), "utf-8")
        await self._put(path, caption_key(lease.video_id, caption.id))
        return caption

    async def _encode_part(
        self, lease: Lease, part: PartSpec, folder: Path, attempt: _Attempt
    ) -> Settled | None:
        """One part of a split video: its span read straight from storage where storage
        allows ranged reads, encoded, uploaded under its own attempt's folders, published."""
        assert lease.plan is not None
        out_dir = folder / "out"
        out_dir.mkdir(parents=True)
        source = await self._part_source(lease, folder)
        prefix = output_prefix(lease.video_id, lease.output_epoch)
        publish = _PartPublisher(self._jobs, self._put, lease, part, out_dir, prefix).publish

        async def on_output(rung: RungOutput) -> None:  # the audio, as it is encoded
            if not await publish([rung], False, "aac"):
                raise LeaseLost("another worker took the job over")

        def on_progress(fraction: float) -> None:
            attempt.fraction = fraction

        async def on_command(command: str, encoder: EncoderChoice) -> None:
            detail = {"command": command, "encoder": encoder.name}
            await self._record(lease, "encoding", f"encoding {part.describe()}", detail)

        with tracing.span("encode", part=part.key) as span:
            started = time.monotonic()
            result = await self._transcoder.transcode_part(
                source,
                lease.plan,
                part,
                out_dir,
                on_progress,
                on_command,
                on_output if part.kind is PartKind.AUDIO else None,
            )
            _count_part(result, part, time.monotonic() - started)
            span.set("encoder", result.encoder.name)
        with tracing.span("publish"):
            # A chunk's earlier attempts were never listed: they go before the publish, so
            # that a worker dying right after it leaves nothing behind. The audio's earlier
            # attempt may be listed (as it went) until this publish replaces it.
            if part.kind is PartKind.CHUNK:
                await self._collect_part_garbage(lease, part, prefix)
            published = await publish(result.rungs, True, result.encoder.name, result)
            if published and part.kind is PartKind.AUDIO:
                await self._collect_part_garbage(lease, part, prefix)
            return Settled(Outcome.PUBLISHED) if published else None

    async def _record(
        self, lease: Lease, kind: str, reason: str, detail: dict[str, Any] | None = None
    ) -> None:
        if not await self._jobs.record(lease, kind, reason, detail):
            raise LeaseLost("another worker took the job over")

    async def _upload(self, out_dir: Path, prefix: str, result: TranscodeResult) -> None:
        """Segments first, in parallel; playlists after; the master last, so a listing of
        the prefix never shows a master playlist whose media is not all there."""
        files = sorted(
            result.files, key=lambda f: (f.suffix == ".m3u8", f.name == result.master_playlist)
        )
        gate = asyncio.Semaphore(UPLOAD_CONCURRENCY)

        async def put(relative: Path) -> None:
            async with gate:
                await self._put(out_dir / relative, f"{prefix}/{relative.as_posix()}")

        await asyncio.gather(*(put(f) for f in files if f.suffix != ".m3u8"))
        for playlist in (f for f in files if f.suffix == ".m3u8"):
            await put(playlist)

    async def _put(self, path: Path, key: str) -> None:
        await self._storage.upload_file(path, key, _content_type(path))

    async def _part_source(self, lease: Lease, folder: Path) -> Path | str:
        """Where ffmpeg reads the source: the stored file itself, or a presigned URL that
        it reads in ranges, seeking to the part's span; a copy only from storage that can
        do neither."""
        located = await self._storage.locate(lease.source_key, SOURCE_URL_SECONDS)
        if isinstance(located, bytes):
            path = folder / "source"
            await asyncio.to_thread(path.write_bytes, located)
            return path
        return located

    async def _collect_part_garbage(self, lease: Lease, part: PartSpec, prefix: str) -> None:
        """Remove what this part's earlier attempts left."""
        for epoch in range(1, lease.epoch):
            for rung in attempt_folders(part):
                sub = part_folder(part, epoch)
                try:
                    await self._storage.delete_prefix(f"{prefix}/{rung}/{sub}/")
                except Exception as exc:
                    log.warning("could not remove %s of %s: %s", sub, lease.video_id, exc)

    async def _collect_garbage(self, lease: Lease) -> None:
        """Earlier epochs were never published (this lease is the job's current epoch, and
        the job is not ready): remove what they left."""
        for epoch in range(1, lease.epoch):
            try:
                await self._storage.delete_prefix(output_prefix(lease.video_id, epoch) + "/")
            except Exception as exc:  # leftovers cost space, not correctness
                log.warning("could not remove epoch %s of %s: %s", epoch, lease.video_id, exc)

    async def _discard(self, lease: Lease) -> None:
        """Remove this attempt's unpublished outputs: a part's own folders only (the audio
        keeps what it published as it went: players may be fetching it)."""
        part = lease.spec
        if part is not None:
            if part.kind is PartKind.CHUNK:
                prefix = output_prefix(lease.video_id, lease.output_epoch)
                for rung in attempt_folders(part):
                    sub = part_folder(part, lease.epoch)
                    await _quietly_delete(self._storage, f"{prefix}/{rung}/{sub}/")
            return
        try:
            await self._storage.delete_prefix(output_prefix(lease.video_id, lease.epoch) + "/")
        except Exception as exc:
            log.warning("could not remove epoch %s of %s: %s", lease.epoch, lease.video_id, exc)


async def _quietly_delete(storage: Storage, prefix: str) -> None:
    try:
        await storage.delete_prefix(prefix)
    except Exception as exc:  # leftovers cost space, not correctness
        log.warning("could not remove %s: %s", prefix, exc)


@dataclass
class _PartPublisher:
    """Uploads a part's files under its attempt's folders, each once (the audio is published
    as it goes, and again at its end), then publishes what it names."""

    jobs: JobStore
    put: Callable[[Path, str], Awaitable[None]]
    lease: Lease
    part: PartSpec
    out_dir: Path
    prefix: str
    uploaded: set[tuple[str, str]] = dataclasses.field(default_factory=set)

    async def publish(
        self,
        rungs: Sequence[RungOutput],
        complete: bool,
        encoder: str,
        result: PartResult | None = None,
    ) -> bool:
        """``result``: the part's whole encode; without it, the audio so far."""
        tiles = () if result is None else result.tiles
        sub = part_folder(self.part, self.lease.epoch)
        files = [(r.rung, name) for r in rungs for name in (r.init, *(s[0] for s in r.segments))]
        files += sorted({(STORYBOARD, t.sheet) for t in tiles})
        for folder, name in files:
            if (folder, name) not in self.uploaded:
                key = f"{self.prefix}/{folder}/{sub}/{name}"
                await self.put(self.out_dir / folder / name, key)
                self.uploaded.add((folder, name))
        output = PartOutput(
            self.part.key,
            tuple(dataclasses.replace(r, folder=sub) for r in rungs),
            complete,
            encoder,
            tuple(dataclasses.replace(t, sheet=f"{sub}/{t.sheet}") for t in tiles),
        )
        if result is not None:
            output = dataclasses.replace(
                output,
                # One command per tier and the audio's: the other chunks' differ only in
                # their span and numbering.
                command=result.public_command if self.part.index == 0 else None,
                ffmpeg_version=result.ffmpeg_version,
                encode_seconds=result.encode_seconds,
                measure_seconds=result.measure_seconds,
            )
        return await self.jobs.publish_part(self.lease, output)


@dataclass(frozen=True, slots=True)
class ChunkPolicy:
    """When and how a probed video is cut into parts (see ``domain.chunks``)."""

    first: int = 6
    longest: int = 60
    single_below: float = 30.0
    first_tier_height: int = 480
    min_vmaf: float = DEFAULT_MIN_VMAF  # the quality receipt's floor, kept with the plan
    shortest: int = SHORTEST_SHARE_SECONDS

    def plan(self, info: SourceInfo, ladder: Sequence[Rung], slots: int = 1) -> VideoPlan | None:
        plan = plan_video(
            info,
            ladder,
            output_frame_rate(info),
            first=self.first,
            longest=self.longest,
            single_below=self.single_below,
            first_tier_height=self.first_tier_height,
            slots=slots,
            shortest=self.shortest,
        )
        return None if plan is None else dataclasses.replace(plan, min_vmaf=self.min_vmaf)


def file_sha256(path: Path) -> str:
    """The file's digest, read in pieces: a source may be many gigabytes."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while piece := file.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def _count_part(result: PartResult, part: PartSpec, seconds: float) -> None:
    encoder = result.encoder.name if part.kind is PartKind.CHUNK else "aac"
    metrics.ENCODE_DURATION.labels(encoder=encoder).observe(seconds)
    metrics.ENCODED_MEDIA.labels(encoder=encoder).inc(part.duration)
    log.info("encoded %s in %.1f s with %s", part.describe(), seconds, encoder)


def _content_type(path: Path) -> str:
    return (
        HLS_CONTENT_TYPES.get(path.suffix)
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


# Classes of failure, the label of the failure metrics: a small, fixed set.
BAD_INPUT = "bad_input"  # not a usable video: failed at once
FFMPEG = "ffmpeg"  # ffmpeg exited with an error
TIMEOUT = "timeout"  # ffmpeg stalled, or something took too long
STORAGE = "storage"  # object storage failed
DATABASE = "database"  # the database failed
OTHER = "other"


def failure_class(exc: BaseException) -> str:
    """Which of the failure classes ``exc`` belongs to."""
    if isinstance(exc, errors.InvalidMedia):
        return BAD_INPUT
    if isinstance(exc, errors.TranscodeStalled | TimeoutError):
        return TIMEOUT
    if isinstance(exc, errors.TranscodeFailed):
        return FFMPEG
    if isinstance(exc, errors.StorageUnavailable | errors.ObjectNotFound):
        return STORAGE
    if isinstance(exc, errors.DatabaseUnavailable | errors.DatabaseError):
        return DATABASE
    return OTHER


def _counted(settled: Settled, reason: str = OTHER) -> Settled:
    """Count how an attempt ended in the job metrics; ``reason``: its class of failure."""
    if settled.outcome is Outcome.PUBLISHED:
        metrics.JOBS_PUBLISHED.inc()
    elif settled.outcome is Outcome.LOST:
        metrics.LEASES_LOST.inc()
    elif settled.outcome is Outcome.RETRYING:
        metrics.JOBS_RETRIED.labels(reason=reason).inc()
    elif settled.outcome in (Outcome.FAILED, Outcome.GAVE_UP):
        metrics.JOBS_FAILED.labels(reason=reason).inc()
    return settled


def _count_encode(result: TranscodeResult, seconds: float) -> None:
    encoder = result.encoder.name
    metrics.ENCODE_DURATION.labels(encoder=encoder).observe(seconds)
    metrics.ENCODED_MEDIA.labels(encoder=encoder).inc(result.duration)
    if seconds > 0:
        metrics.ENCODE_SPEED.labels(encoder=encoder).observe(result.duration / seconds)
    log.info(
        "encoded %.1f s of media in %.1f s (%.1fx real time) with %s",
        result.duration,
        seconds,
        result.duration / seconds if seconds > 0 else 0.0,
        encoder,
    )


def _describe(exc: BaseException) -> str:
    """The reason a person reads: an OSError's words, without the file it names."""
    if isinstance(exc, errors.VodstackError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
