"""The real Transcoder: PyAV to probe, one ffmpeg process to encode the whole ladder, and
a short one after it that makes the storyboard from the lowest rung's keyframes.

The encoder (NVENC or libx264) and the optional filters of the ffmpeg build are found out
once per process, not per job. A running ffmpeg is watched: its ``-progress`` output feeds
``on_progress``, it is killed when it stops making progress or when the awaiting task is
cancelled, and its exit status and last stderr lines become ``TranscodeFailed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import logging
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NoReturn

import imageio_ffmpeg

from vodstack import errors
from vodstack.adapters.probe import probe_contained
from vodstack.adapters.quality import measure_rungs
from vodstack.adapters.sandbox import Confinement, network_isolation, signal_name
from vodstack.adapters.storyboard import Storyboard, make_storyboard, write_vtt
from vodstack.adapters.subtitles import extract_subtitles
from vodstack.domain.budgets import MediaLimits
from vodstack.domain.chunks import AUDIO, Chunk, PartKind, PartSpec, RungOutput, VideoPlan
from vodstack.domain.ffmpeg_args import (
    MP4_NAME,
    PLAYLIST_NAME,
    QUALITY,
    ProgressParser,
    TranscodeSpec,
    analysis_command,
    audio_command,
    build_command,
    mp4_command,
    nvenc_trial_command,
    public_command,
    rung_playlist,
)
from vodstack.domain.iframes import (
    HEAD_BYTES,
    IFRAMES_NAME,
    MAX_HEAD_BYTES,
    ByteRange,
    IFrame,
    ShortHead,
    VideoTrack,
    iframe_playlist,
    iframe_range,
    iframe_stream,
    video_track,
)
from vodstack.domain.ladder import DEFAULT_MAX_RUNG, RateControl, output_frame_rate, plan_ladder
from vodstack.domain.media import (
    EncoderChoice,
    PartResult,
    Rendition,
    Rung,
    SourceInfo,
    TranscodeResult,
)
from vodstack.domain.pictures import STORYBOARD, StoryboardPlan, choose_cover
from vodstack.domain.playlist import (
    MASTER_NAME,
    IFrameStream,
    MediaPlaylist,
    codecs_from_init,
    master_playlist,
    measure_bandwidth,
    parse_media_playlist,
)
from vodstack.domain.quality import (
    DEFAULT_MIN_VMAF,
    Receipt,
    RungReceipt,
    declare,
    describe_rejections,
    judge,
    part_problems,
    plan_samples,
)
from vodstack.domain.ratecontrol import Complexity, analysis_windows, bits_per_pixel
from vodstack.ports import CommandCallback, OutputCallback, ProgressCallback
from vodstack.settings import Settings

log = logging.getLogger(__name__)

# An encode may use at least this much CPU, whatever its length: starting up and the first
# keyframes cost the same for a one-second clip.
CPU_FLOOR_SECONDS = 120.0
# No file ffmpeg writes is larger: a 6 s segment at the highest rung's rate cap is a few
# MiB, so this stops only an output that has gone wrong.
MAX_OUTPUT_FILE = 1 * 2**30
_OUT_OF_MEMORY = "Cannot allocate memory"
STDERR_TAIL_LINES = 20
STDERR_MAX_LINE = 2000
TRIAL_TIMEOUT = 30.0
_ENCODERS = ("auto", "libx264", "h264_nvenc")
# Lines ffmpeg ends every failure with; they say nothing about the cause.
_GENERIC_STDERR = ("Conversion failed!", "Exiting normally")


def default_ffmpeg(settings: Settings) -> str:
    """The configured ffmpeg, or the one pinned in the imageio-ffmpeg wheel."""
    return settings.ffmpeg or str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True, slots=True)
class Capabilities:
    encoder: EncoderChoice
    can_tonemap: bool
    version: str = "unknown"  # the first line of ``ffmpeg -version``


# Keyed by (ffmpeg, encoder setting): the GPU and the binary do not change under a running
# process, and a trial encode per job would cost a second each time.
_capabilities: dict[tuple[str, str], Capabilities] = {}


@dataclass(frozen=True, slots=True)
class MediaBudget:
    """What one source may cost: the limits the probe checks, and the resources each of
    its processes may use (see ``adapters.sandbox``)."""

    limits: MediaLimits = dataclasses.field(default_factory=MediaLimits)
    memory_bytes: int | None = 8 * 2**30
    # CPU seconds an encode may use per second of media, with a floor for short ones.
    cpu_per_second: float = 60.0
    probe_timeout: float = 300.0

    def encode(self, duration: float, local: bool) -> Confinement:
        return Confinement(
            memory_bytes=self.memory_bytes,
            cpu_seconds=CPU_FLOOR_SECONDS + self.cpu_per_second * duration,
            file_bytes=MAX_OUTPUT_FILE,
            isolate_network=local,
        )


@dataclass(frozen=True, slots=True)
class _Published:
    """The renditions that passed their receipt's rules, their I-frame streams and files."""

    renditions: list[Rendition]
    iframes: list[IFrameStream]
    files: list[Path]


def _folder(uri: str) -> str:
    return uri.split("/")[0]


def _refuse(judged: Sequence[RungReceipt]) -> NoReturn:
    raise errors.TranscodeFailed(
        f"no rendition passed its quality check: {describe_rejections(judged)}"
    )


class FfmpegTranscoder:
    def __init__(
        self,
        ffmpeg: str,
        encoder: str = "auto",
        stall_timeout: float = 120.0,
        budget: MediaBudget | None = None,
        mp4_rendition: bool = False,
        max_rung: int = DEFAULT_MAX_RUNG,
        rate_control: RateControl = RateControl.QUALITY,
        min_vmaf: float = DEFAULT_MIN_VMAF,
    ) -> None:
        if encoder not in _ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(_ENCODERS)}, not {encoder!r}")
        self.ffmpeg = ffmpeg
        self.encoder = encoder
        self.stall_timeout = stall_timeout
        self.budget = budget or MediaBudget()
        self.mp4_rendition = mp4_rendition
        self.max_rung = max_rung
        self.rate_control = rate_control
        self.min_vmaf = min_vmaf
        self._lock = asyncio.Lock()

    async def plan_ladder(self, source: Path, info: SourceInfo) -> list[Rung]:
        """The ladder for ``source``: with quality rate control, each rung's cap fitted to a
        short analysis of it. An analysis that fails leaves the fixed caps, with a warning
        in the log: it costs the video some bits, never its encode."""
        plan = functools.partial(
            plan_ladder, info, max_rung=self.max_rung, rate_control=self.rate_control
        )
        if self.rate_control is RateControl.FIXED or not analysis_windows(info.duration):
            return plan()
        try:
            complexity = await self.analyse(source, info, plan()[-1], source.parent / "analysis")
        except errors.TranscodeFailed as exc:
            log.warning("no rate analysis, the fixed caps stay: %s", exc)
            return plan()
        return plan(complexity=complexity)

    async def analyse(
        self, source: Path, info: SourceInfo, smallest: Rung, work_dir: Path
    ) -> Complexity:
        """What a few windows of the source cost at ``smallest``'s size and the analysis
        rate factor: one ffmpeg, which decodes only the windows."""
        capabilities = await self.capabilities()
        frame_rate = output_frame_rate(info)
        spec = TranscodeSpec(
            info, [smallest], frame_rate, capabilities.encoder, capabilities.can_tonemap
        )
        windows = analysis_windows(info.duration)
        await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
        command = analysis_command(self.ffmpeg, source, work_dir, spec, windows)
        await self._run_aside(command, sum(w.length for w in windows))
        found = []
        for index, window in enumerate(windows):
            size = await asyncio.to_thread(os.path.getsize, work_dir / f"w{index}.h264")
            frames = max(1, round(window.length * frame_rate))
            found.append(bits_per_pixel(size, frames, smallest.width, smallest.height))
        await asyncio.to_thread(shutil.rmtree, work_dir, True)
        return Complexity(smallest.width, smallest.height, tuple(found))

    async def probe(self, source: Path) -> SourceInfo:
        budget = self.budget
        return await probe_contained(
            source, budget.limits, budget.memory_bytes, budget.probe_timeout
        )

    async def extract_subtitles(
        self, source: Path, tracks: Sequence[int], out_dir: Path
    ) -> dict[int, Path]:
        return await extract_subtitles(
            self.ffmpeg, source, tracks, out_dir, self.budget.memory_bytes
        )

    async def capabilities(self) -> Capabilities:
        key = (self.ffmpeg, self.encoder)
        async with self._lock:
            if key not in _capabilities:
                encoder = await self._choose_encoder()
                filters = await _filters(self.ffmpeg)
                _capabilities[key] = Capabilities(
                    encoder, {"zscale", "tonemap"} <= filters, await _version(self.ffmpeg)
                )
                log.info("ffmpeg %s: %s", self.ffmpeg, encoder.reason)
            return _capabilities[key]

    async def _choose_encoder(self) -> EncoderChoice:
        if self.encoder == "libx264":
            return EncoderChoice("libx264", "libx264 (chosen by configuration)")
        failure = await _trial(nvenc_trial_command(self.ffmpeg))
        if failure is None:
            cuda = await _trial(nvenc_trial_command(self.ffmpeg, cuda_filters=True)) is None
            scaling = "decode and scale on the GPU" if cuda else "decode and scale on the CPU"
            return EncoderChoice("h264_nvenc", f"h264_nvenc trial succeeded; {scaling}", cuda)
        if self.encoder == "h264_nvenc":
            raise errors.TranscodeFailed(
                f"the encoder is set to h264_nvenc, but its trial encode failed: {failure}"
            )
        return EncoderChoice("libx264", f"h264_nvenc trial failed: {failure}; using libx264")

    async def transcode(
        self,
        source: Path,
        info: SourceInfo,
        out_dir: Path,
        on_progress: ProgressCallback,
        on_command: CommandCallback | None = None,
        *,
        ladder: Sequence[Rung] | None = None,
        max_seconds: float | None = None,
    ) -> TranscodeResult:
        """``ladder``: the rungs ``plan_ladder`` chose, planned here if not given.
        ``max_seconds`` encodes only the start of the source; for tests."""
        capabilities = await self.capabilities()
        rungs = list(ladder) if ladder is not None else await self.plan_ladder(source, info)
        frame_rate = output_frame_rate(info)
        duration = info.duration if max_seconds is None else min(info.duration, max_seconds)
        spec = TranscodeSpec(
            source=info,
            rungs=rungs,
            frame_rate=frame_rate,
            encoder=capabilities.encoder,
            can_tonemap=capabilities.can_tonemap,
            max_seconds=max_seconds,
            samples=plan_samples(duration, frame_rate, bool(info.stills)),
        )
        command = build_command(self.ffmpeg, source, out_dir, spec)
        if on_command is not None:
            await on_command(public_command(command, source, out_dir), capabilities.encoder)
        await asyncio.to_thread(_make_folders, out_dir, [*(r.name for r in rungs), QUALITY])
        started = time.monotonic()
        await self._run(command, duration, on_progress, self.budget.encode(duration, True))
        encode_seconds = time.monotonic() - started
        try:
            renditions, encoded, files = await asyncio.to_thread(
                _measure, out_dir, rungs, spec.frame_rate
            )
            iframes, iframe_files = await asyncio.to_thread(_write_iframes, out_dir, renditions)
        except (OSError, ValueError) as exc:
            raise errors.TranscodeFailed(f"ffmpeg's output is incomplete: {exc}") from exc
        started = time.monotonic()
        judged = await self._judge(out_dir, spec, renditions, {_folder(s.uri) for s in iframes})
        receipt = Receipt(
            judged,
            capabilities.version,
            public_command(command, source, out_dir),
            None,
            round(encode_seconds, 3),
            round(time.monotonic() - started, 3),
            self.min_vmaf,
        )
        # The reference frames were for the receipt only: they are not published.
        await asyncio.to_thread(shutil.rmtree, out_dir / QUALITY, True)
        kept = {r.rung for r in judged if r.published} or _refuse(judged)
        published = _Published(
            [r for r in renditions if r.name in kept],
            [s for s in iframes if _folder(s.uri) in kept],
            [f for f in [*files, *iframe_files] if f.parts[0] in kept],
        )
        return await self._complete(out_dir, spec, published, encoded, command, receipt)

    async def _complete(
        self,
        out_dir: Path,
        spec: TranscodeSpec,
        published: _Published,
        encoded: float,
        command: list[str],
        receipt: Receipt,
    ) -> TranscodeResult:
        """What the published rungs add: the MP4 to download, the storyboard, and the
        master playlist last."""
        files = list(published.files)
        if self.mp4_rendition:
            files.append(await self._remux_mp4(out_dir, published.renditions, encoded))
        names = {r.name for r in published.renditions}
        low = storyboard_rung([r for r in spec.rungs if r.name in names])
        board_plan = StoryboardPlan(0.0, encoded, encoded, low.width, low.height)
        board = await self.storyboard(out_dir, low, board_plan)
        if board is not None:
            files += await asyncio.to_thread(write_vtt, out_dir, board, board_plan)
        await asyncio.to_thread(_write_master, out_dir, published.renditions, published.iframes)
        return TranscodeResult(
            command=command,
            encoder=spec.encoder,
            duration=encoded,
            renditions=published.renditions,
            master_playlist=MASTER_NAME,
            files=sorted([Path(MASTER_NAME), *files]),
            cover_time=None if board is None else choose_cover(board.tiles, encoded),
            receipt=receipt,
        )

    async def _judge(
        self,
        out_dir: Path,
        spec: TranscodeSpec,
        renditions: Sequence[Rendition],
        with_keyframes: set[str],
    ) -> tuple[RungReceipt, ...]:
        """Each rendition measured (``with_keyframes``: those whose every segment begins
        with an IDR) and held to the receipt's rules."""
        names = [rung.name for rung in spec.rungs]
        keyframes = {name: name in with_keyframes for name in names}
        measures = await measure_rungs(
            self.ffmpeg, self._run_aside, out_dir, names, spec.samples, spec.frame_rate, keyframes
        )
        declared = [declare(r, g) for r, g in zip(renditions, spec.rungs, strict=True)]
        return judge(measures, declared, self.min_vmaf)

    async def _remux_mp4(
        self, out_dir: Path, renditions: Sequence[Rendition], duration: float
    ) -> Path:
        """The top rung, with its audio, as one MP4 to download, copied from its segments.
        It may be larger than any file an encode may write, but not than the rung's files
        with an index; and it is our own output, so a failure here is one to retry, never
        the source's verdict."""
        top = max(renditions, key=lambda r: (r.width * r.height, r.bandwidth))
        rung_bytes = await asyncio.to_thread(_folder_bytes, (out_dir / top.playlist).parent)
        confinement = dataclasses.replace(
            self.budget.encode(duration, True), file_bytes=2 * rung_bytes + 64 * 2**20
        )
        command = mp4_command(self.ffmpeg, out_dir / top.playlist, out_dir / MP4_NAME)
        try:
            await self._run(command, duration, _ignore_progress, confinement)
        except errors.InvalidMedia as exc:
            raise errors.TranscodeFailed(f"the MP4 to download was not written: {exc}") from exc
        return Path(MP4_NAME)

    async def transcode_part(
        self,
        source: Path | str,
        plan: VideoPlan,
        part: PartSpec,
        out_dir: Path,
        on_progress: ProgressCallback,
        on_command: CommandCallback | None = None,
        on_output: OutputCallback | None = None,
    ) -> PartResult:
        """One part of a split video: a chunk's rungs from one decode of its span, or the
        whole audio, whose segments so far ``on_output`` hears as they are written. A
        chunk whose encode breaks a rule of the quality receipt raises TranscodeFailed,
        with the rule: the part is tried again."""
        capabilities = await self.capabilities()
        spec = None if part.kind is PartKind.AUDIO else chunk_spec(plan, part, capabilities)
        if spec is None:
            bitrate = max(r.audio_bitrate for r in plan.rungs)
            command = audio_command(self.ffmpeg, source, out_dir, bitrate, AUDIO)
        else:
            command = build_command(self.ffmpeg, source, out_dir, spec)
        if on_command is not None:
            await on_command(public_command(command, source, out_dir), capabilities.encoder)
        scratch = [] if spec is None else [QUALITY]
        await asyncio.to_thread(_make_folders, out_dir, [*part.rungs, *scratch])
        seen = 0

        async def tick() -> None:
            nonlocal seen
            if on_output is None:
                return
            found = await asyncio.to_thread(read_rung_output, out_dir, AUDIO, partial=True)
            if found is not None and len(found.segments) > seen:
                seen = len(found.segments)
                await on_output(found)

        confinement = self.budget.encode(part.duration, isinstance(source, Path))
        started = time.monotonic()
        await self._run(command, part.duration, on_progress, confinement, tick)
        encoded = time.monotonic() - started
        outputs = await asyncio.to_thread(_read_part, out_dir, part)
        started = time.monotonic()
        if spec is not None:
            outputs = await self._check_part(out_dir, spec, part, outputs, plan.min_vmaf)
        result = PartResult(
            command,
            capabilities.encoder,
            outputs,
            public_command=public_command(command, source, out_dir),
            ffmpeg_version=capabilities.version,
            encode_seconds=round(encoded, 3),
            measure_seconds=round(time.monotonic() - started, 3),
        )
        low = storyboard_rung(plan.rungs)
        if part.kind is PartKind.AUDIO or low.name not in part.rungs:
            return result
        board_plan = StoryboardPlan(part.start, part.end, plan.duration, low.width, low.height)
        board = await self.storyboard(out_dir, low, board_plan)
        return dataclasses.replace(result, tiles=() if board is None else board.tiles)

    async def _check_part(
        self,
        out_dir: Path,
        spec: TranscodeSpec,
        part: PartSpec,
        outputs: Sequence[RungOutput],
        min_vmaf: float,
    ) -> tuple[RungOutput, ...]:
        """A chunk's rungs measured, with their sampled frames' scores; raises
        TranscodeFailed naming the rules they break."""
        keyframes = {o.rung: len(o.iframes) == len(o.segments) for o in outputs}
        measures = await measure_rungs(
            self.ffmpeg,
            self._run_aside,
            out_dir,
            part.rungs,
            spec.samples,
            spec.frame_rate,
            keyframes,
        )
        await asyncio.to_thread(shutil.rmtree, out_dir / QUALITY, True)
        problems = part_problems(measures, min_vmaf)
        if problems is not None:
            raise errors.TranscodeFailed(f"{part.describe()} failed its quality check: {problems}")
        by_rung = {m.rung: m for m in measures}
        return tuple(
            dataclasses.replace(o, vmaf=by_rung[o.rung].vmaf, psnr=by_rung[o.rung].psnr)
            for o in outputs
        )

    async def storyboard(
        self, out_dir: Path, rung: Rung, plan: StoryboardPlan
    ) -> Storyboard | None:
        """The tiles of ``plan`` from ``rung`` as encoded in ``out_dir``, their sheets in
        ``out_dir/storyboard``."""

        async def run(command: list[str], duration: float, confinement: Confinement) -> None:
            await self._run(command, duration, _ignore_progress, confinement)

        span = plan.end - plan.start
        return await make_storyboard(
            self.ffmpeg,
            run,
            out_dir / rung_playlist(rung),
            out_dir / STORYBOARD,
            plan,
            self.budget.encode(span, True),
        )

    async def _run_aside(self, command: list[str], seconds: float) -> None:
        """A short run beside the encode (the analysis, the receipt's comparison), under an
        encode's limits for ``seconds`` of media; its progress is no part of the job's."""
        await self._run(command, seconds, _ignore_progress, self.budget.encode(seconds, True))

    async def _run(
        self,
        command: list[str],
        duration: float,
        on_progress: ProgressCallback,
        confinement: Confinement,
        tick: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        await asyncio.to_thread(network_isolation)  # tried once per process: not on the loop
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                preexec_fn=confinement.preexec(),
                env={**os.environ, "MALLOC_ARENA_MAX": "2"},
            )
        except OSError as exc:
            raise errors.TranscodeFailed(f"cannot start ffmpeg ({command[0]}): {exc}") from exc
        assert process.stdout is not None
        assert process.stderr is not None
        watch = _Watch(ProgressParser(duration), on_progress, asyncio.get_running_loop().time())
        tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        # Both pipes are always read to the end, whatever happens, so ffmpeg never blocks on
        # a full pipe and the transports close when it exits.
        readers = asyncio.gather(
            watch.read(process.stdout), _read_tail(process.stderr, tail), return_exceptions=True
        )
        try:
            await self._wait(readers, watch, tick)
            returncode = await process.wait()
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            await readers  # the pipes reach EOF once ffmpeg is gone; this closes them
        if returncode != 0:
            raise _failure(returncode, tail, confinement)

    async def _wait(
        self,
        readers: asyncio.Future[tuple[BaseException | None, BaseException | None]],
        watch: _Watch,
        tick: Callable[[], Awaitable[None]] | None,
    ) -> None:
        """Until ffmpeg closes its output; raise TranscodeStalled if its output time stands
        still for ``stall_timeout`` seconds (ffmpeg keeps printing reports while stuck).
        ``tick`` runs about once a second meanwhile."""
        loop = asyncio.get_running_loop()
        poll = min(1.0, self.stall_timeout / 4)
        while not readers.done():
            await asyncio.wait([readers], timeout=poll)
            if tick is not None and not readers.done():
                await tick()
            if watch.error is not None:
                break
            idle = loop.time() - watch.last_advance
            if not readers.done() and idle > self.stall_timeout:
                raise errors.TranscodeStalled(
                    f"ffmpeg made no progress for {idle:.0f} s (at {watch.parser.out_time:.1f} s "
                    f"of {watch.parser.duration:.1f} s) and was stopped"
                )
        if watch.error is not None:
            raise watch.error


class _Watch:
    """Reads ``-progress`` reports; remembers when the output time last moved, and what
    ``on_progress`` raised (the run re-raises it after stopping ffmpeg)."""

    def __init__(self, parser: ProgressParser, on_progress: ProgressCallback, now: float) -> None:
        self.parser = parser
        self.on_progress = on_progress
        self.last_advance = now
        self.error: Exception | None = None

    async def read(self, stream: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        seen = -1.0
        async for raw in stream:
            fraction = self.parser.feed(raw.decode(errors="replace"))
            if fraction is None:
                continue
            if self.parser.out_time > seen or self.parser.ended:
                seen = self.parser.out_time
                self.last_advance = loop.time()
            if self.error is None:
                try:
                    self.on_progress(fraction)
                except Exception as exc:
                    self.error = exc


async def _read_tail(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    """Keep the last lines of ``stream``; read in chunks so no line can grow without bound."""
    partial = b""
    while chunk := await stream.read(65536):
        *lines, partial = (partial + chunk).split(b"\n")
        partial = partial[-STDERR_MAX_LINE:]
        tail.extend(line.decode(errors="replace").strip()[:STDERR_MAX_LINE] for line in lines)
    tail.append(partial.decode(errors="replace").strip())


def _failure(returncode: int, tail: Sequence[str], confinement: Confinement) -> Exception:
    """A limit the file made ffmpeg break is the file's verdict, at once; anything else is
    a failure the job retries."""
    limit = confinement.verdict(returncode)
    if limit is not None:
        return errors.InvalidMedia(f"encoding was stopped: {limit}")
    lines = [line for line in tail if line and not line.startswith(_GENERIC_STDERR)]
    if confinement.memory_bytes is not None and any(_OUT_OF_MEMORY in line for line in lines):
        return errors.InvalidMedia(
            f"encoding needs more than the {confinement.memory_bytes // 2**20} MiB of memory "
            "a video may use"
        )
    killed = f"was killed by {signal_name(returncode)}"
    status = killed if returncode < 0 else f"exited with {returncode}"
    detail = "; ".join(_without_paths(line) for line in lines[-5:]) or "no error output"
    return errors.TranscodeFailed(f"ffmpeg {status}: {detail}")


# A file's path or a presigned URL names the machine, and a URL carries a signature: the
# reason a person reads says "the source" or "a file" instead.
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S*?(?=:?(?:\s|$))", re.IGNORECASE)
_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)*[^\s/:'\"]*")


def _without_paths(line: str) -> str:
    return _PATH.sub("<file>", _URL.sub("<source>", line))


async def _trial(command: list[str]) -> str | None:
    """Run a trial encode; ``None`` if it worked, else its first meaningful stderr line."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return f"cannot start ffmpeg: {exc}"
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), TRIAL_TIMEOUT)
    except TimeoutError:
        return f"no answer within {TRIAL_TIMEOUT:.0f} s"
    finally:  # also when the caller is cancelled: no trial outlives its job
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode == 0:
        return None
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    return next((line for line in lines if line), f"exit status {process.returncode}")


async def _version(ffmpeg: str) -> str:
    """The first line of ``ffmpeg -version``: the build the receipt names."""
    try:
        process = await asyncio.create_subprocess_exec(
            ffmpeg,
            "-version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return "unknown"
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), TRIAL_TIMEOUT)
    except TimeoutError:
        return "unknown"
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    lines = stdout.decode(errors="replace").splitlines()
    return lines[0].strip() if lines else "unknown"


async def _filters(ffmpeg: str) -> set[str]:
    """Names of the filters this ffmpeg build has (``ffmpeg -filters``)."""
    try:
        process = await asyncio.create_subprocess_exec(
            ffmpeg,
            "-hide_banner",
            "-filters",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        raise errors.TranscodeFailed(f"cannot start ffmpeg ({ffmpeg}): {exc}") from exc
    stdout, _ = await process.communicate()
    names = set()
    for line in stdout.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 3 and "->" in fields[2]:
            names.add(fields[1])
    return names


def _ignore_progress(_: float) -> None:
    """The runs after the encode (the MP4's copy, the storyboard) take a fraction of its
    time; the job's progress is 1 by then."""


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir() if path.is_file())


def storyboard_rung(rungs: Sequence[Rung]) -> Rung:
    """The rung the storyboard is made from: the fewest pixels to decode."""
    return min(rungs, key=lambda r: r.width * r.height)


def _make_folders(out_dir: Path, names: Sequence[str]) -> None:
    for name in names:
        (out_dir / name).mkdir(parents=True, exist_ok=True)


def _measure(
    out_dir: Path, rungs: Sequence[Rung], frame_rate: Fraction
) -> tuple[list[Rendition], float, list[Path]]:
    """Each rendition as encoded (bandwidth from its segments, codecs from its init segment),
    the longest rendition's duration, and the files the playlists name, relative to
    ``out_dir`` (so nothing a previous attempt left there is published by mistake)."""
    renditions = []
    duration = 0.0
    files: list[Path] = []
    for rung in rungs:
        folder = out_dir / rung.name
        playlist = parse_media_playlist((out_dir / rung_playlist(rung)).read_text())
        if not playlist.segments or playlist.map_uri is None:
            raise errors.TranscodeFailed(f"ffmpeg wrote no segments for {rung.name}")
        sizes = [(s.duration, (folder / s.uri).stat().st_size) for s in playlist.segments]
        duration = max(duration, playlist.duration)
        names = [PLAYLIST_NAME, playlist.map_uri, *(s.uri for s in playlist.segments)]
        files += [Path(rung.name, name) for name in names]
        peak, average = measure_bandwidth(sizes, playlist.target_duration)
        renditions.append(
            Rendition(
                name=rung.name,
                width=rung.width,
                height=rung.height,
                bandwidth=peak,
                average_bandwidth=average,
                codecs=codecs_from_init((folder / playlist.map_uri).read_bytes()),
                frame_rate=float(frame_rate),
                playlist=rung_playlist(rung),
            )
        )
    return renditions, duration, files


def chunk_spec(plan: VideoPlan, part: PartSpec, capabilities: Capabilities) -> TranscodeSpec:
    """What a chunk's command is built from: its span and rungs, and its samples."""
    return TranscodeSpec(
        source=plan.source,
        rungs=[plan.rung(name) for name in part.rungs],
        frame_rate=plan.frame_rate,
        encoder=capabilities.encoder,
        can_tonemap=capabilities.can_tonemap,
        chunk=Chunk(part.index, part.start, part.end),
        samples=plan_samples(part.duration, plan.frame_rate, False),
    )


def _read_part(out_dir: Path, part: PartSpec) -> tuple[RungOutput, ...]:
    try:
        rungs = [read_rung_output(out_dir, name) for name in part.rungs]
    except (OSError, ValueError) as exc:
        raise errors.TranscodeFailed(f"ffmpeg's output is incomplete: {exc}") from exc
    outputs = tuple(r for r in rungs if r is not None)
    if len(outputs) < len(rungs):
        raise errors.TranscodeFailed(f"ffmpeg wrote no segments for {part.describe()}")
    return outputs


def read_rung_output(out_dir: Path, rung: str, *, partial: bool = False) -> RungOutput | None:
    """A part's rendition as ffmpeg wrote it in ``out_dir/rung``: its segments with their
    sizes, its init segment's digest and codecs. ``partial``: while ffmpeg still writes,
    only the segments its playlist lists (each one complete), and None until there is one.
    The folder it will be published under is the caller's to set."""
    folder = out_dir / rung
    try:
        playlist = parse_media_playlist((folder / PLAYLIST_NAME).read_text())
    except (OSError, ValueError):
        if partial:
            return None
        raise
    if not playlist.segments or playlist.map_uri is None:
        if partial:
            return None
        raise ValueError(f"no segments for {rung}")
    init = (folder / playlist.map_uri).read_bytes()
    track = video_track(init)
    frames = None if track is None else _iframes(folder, playlist, track, rung)
    return RungOutput(
        rung=rung,
        folder="",
        init=playlist.map_uri,
        init_digest=hashlib.sha256(init).hexdigest(),
        codecs=codecs_from_init(init),
        target_duration=playlist.target_duration,
        segments=tuple(
            (s.uri, s.duration, (folder / s.uri).stat().st_size) for s in playlist.segments
        ),
        iframes=tuple((f.offset, f.length) for f in frames or ()),
    )


def _write_iframes(
    out_dir: Path, renditions: Sequence[Rendition]
) -> tuple[list[IFrameStream], list[Path]]:
    """Each rendition's I-frame playlist, beside its media playlist: byte ranges of its
    segments. The master's entries for them, and the files written."""
    streams: list[IFrameStream] = []
    files: list[Path] = []
    for rendition in renditions:
        folder = out_dir / rendition.name
        playlist = parse_media_playlist((out_dir / rendition.playlist).read_text())
        if playlist.map_uri is None:
            raise ValueError(f"the playlist of {rendition.name} has no init segment")
        track = video_track((folder / playlist.map_uri).read_bytes())
        if track is None:
            raise ValueError(f"the init segment of {rendition.name} has no video track")
        frames = _iframes(folder, playlist, track, rendition.name)
        if frames is None:
            continue
        (folder / IFRAMES_NAME).write_text(iframe_playlist(playlist.map_uri, frames))
        uri = f"{rendition.name}/{IFRAMES_NAME}"
        size = (rendition.width, rendition.height)
        streams.append(iframe_stream(uri, frames, rendition.codecs, size))
        files.append(Path(rendition.name, IFRAMES_NAME))
    return streams, files


def _iframes(
    folder: Path, playlist: MediaPlaylist, track: VideoTrack, rung: str
) -> list[IFrame] | None:
    """Each segment's first frame; None when one cannot be found. Trick play is an extra:
    a fragment this cannot read costs the rung its I-frame playlist, not the video its
    encode."""
    frames = []
    for segment in playlist.segments:
        try:
            found = segment_iframe(folder / segment.uri, track)
        except ValueError as exc:
            log.warning("no I-frame playlist for %s: %s", rung, exc)
            return None
        frames.append(IFrame(segment.uri, segment.duration, found.offset, found.length))
    return frames


def segment_iframe(path: Path, track: VideoTrack) -> ByteRange:
    """Where the segment's first frame is, from a bounded read of its head (the moof and
    the mdat header): never the whole segment."""
    wanted = HEAD_BYTES
    with path.open("rb") as file:
        head = file.read(wanted)
        while True:
            try:
                return iframe_range(head, track)
            except ShortHead as short:
                if len(head) < wanted or short.needed > MAX_HEAD_BYTES:
                    raise ValueError(
                        f"{path.name} ends before its first video frame is described"
                    ) from None
                wanted = short.needed
                head += file.read(wanted - len(head))


def _write_master(
    out_dir: Path, renditions: Sequence[Rendition], iframes: Sequence[IFrameStream] = ()
) -> None:
    """Written last: a master playlist means every rendition it lists is complete."""
    (out_dir / MASTER_NAME).write_text(master_playlist(renditions, iframes=iframes).render())
