"""Measuring an encode's rungs for its quality receipt (see ``domain.quality``): their
segments as written, and VMAF and PSNR of their sampled windows against the reference
frames the encode kept, by one short ffmpeg for all the rungs that decodes only the
windows' first frames."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from vodstack import errors
from vodstack.domain.ffmpeg_args import PLAYLIST_NAME, reference_file
from vodstack.domain.playlist import MediaPlaylist, parse_media_playlist
from vodstack.domain.quality import (
    RungMeasure,
    Samples,
    reference_offsets,
    segment_starts,
)

log = logging.getLogger(__name__)

VMAF_THREADS = 2

Run = Callable[[list[str], float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One rung's sampled windows against its reference frames."""

    reference: Path
    init: Path
    windows: tuple[Path, ...]  # the sampled segments, in order
    offsets: tuple[int, ...]  # where each window's frames begin in the reference
    frames: int
    log_path: Path


async def measure_rungs(
    ffmpeg: str,
    run: Run,
    out_dir: Path,
    rungs: Sequence[str],
    samples: Samples | None,
    frame_rate: Fraction,
    keyframe_starts: Mapping[str, bool],
) -> list[RungMeasure]:
    """Each rung of one encode in ``out_dir``: each segment's length and size, whether each
    begins with an IDR (``keyframe_starts``, found by the caller from the segments' heads),
    and its sampled windows' VMAF and PSNR, all rungs compared by one ffmpeg. A comparison
    that cannot be made leaves the rung without VMAF, and the log says why: it is no
    reason to refuse the rung."""
    measures, comparisons = {}, {}
    for rung in rungs:
        folder = out_dir / rung
        playlist = parse_media_playlist(await asyncio.to_thread((folder / PLAYLIST_NAME).read_text))
        sizes = await asyncio.to_thread(_sizes, folder, playlist)
        segments = tuple((s.duration, n) for s, n in zip(playlist.segments, sizes, strict=True))
        measures[rung] = RungMeasure(rung, segments, keyframe_starts.get(rung, False))
        if samples is not None and measures[rung].keyframe_starts:
            try:
                comparisons[rung] = _comparison(out_dir, rung, playlist, samples, frame_rate)
            except ValueError as exc:
                log.warning("no VMAF for %s: %s", rung, exc)
    if comparisons and samples is not None:
        seconds = len(samples.segments) * samples.frames / float(frame_rate)
        try:
            await run(vmaf_command(ffmpeg, list(comparisons.values())), seconds)
        except (errors.TranscodeFailed, errors.InvalidMedia) as exc:
            log.warning("no VMAF for %s: %s", ", ".join(comparisons), exc)
            comparisons = {}
    for rung, comparison in comparisons.items():
        vmaf, psnr = await asyncio.to_thread(scores, comparison.log_path)
        measures[rung] = dataclasses.replace(measures[rung], vmaf=vmaf, psnr=psnr)
    return [measures[rung] for rung in rungs]


def _comparison(
    out_dir: Path, rung: str, playlist: MediaPlaylist, samples: Samples, frame_rate: Fraction
) -> Comparison:
    if playlist.map_uri is None or samples.segments[-1] >= len(playlist.segments):
        raise ValueError("it has fewer segments than were sampled")
    starts = segment_starts([s.duration for s in playlist.segments], frame_rate)
    folder = out_dir / rung
    reference = reference_file(out_dir, rung)
    return Comparison(
        reference,
        folder / playlist.map_uri,
        tuple(folder / playlist.segments[k].uri for k in samples.segments),
        tuple(reference_offsets(samples, frame_rate, starts)),
        samples.frames,
        reference.with_suffix(".json"),
    )


def vmaf_command(ffmpeg: str, comparisons: Sequence[Comparison]) -> list[str]:
    """For each comparison, each window's segment decoded from its keyframe (its first
    frames), side by side with the reference frames at its offsets; both numbered afresh,
    so that the n-th of one meets the n-th of the other. Our own files only, opened as
    such."""
    command = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    command += ["-progress", "pipe:1", "-nostats"]
    graph: list[str] = []
    outputs: list[str] = []
    renumber = "settb=1/1000,setpts=N*100"
    inputs = 0
    for index, job in enumerate(comparisons):
        command += ["-format_whitelist", "nut", "-protocol_whitelist", "file"]
        command += ["-i", str(job.reference)]
        picks = "+".join(f"between(n\\,{o}\\,{o + job.frames - 1})" for o in job.offsets)
        graph.append(f"[{inputs}:v:0]select='{picks}',{renumber}[ref{index}]")
        inputs += 1
        for number, window in enumerate(job.windows):
            command += ["-format_whitelist", "mov", "-protocol_whitelist", "concat,file"]
            command += ["-i", f"concat:{job.init}|{window}"]
            graph.append(f"[{inputs}:v:0]trim=end_frame={job.frames}[d{index}_{number}]")
            inputs += 1
        joined = "".join(f"[d{index}_{n}]" for n in range(len(job.windows)))
        graph.append(f"{joined}concat=n={len(job.windows)}:v=1:a=0,{renumber}[dist{index}]")
        options = f"log_fmt=json:log_path={_escape(job.log_path)}:n_threads={VMAF_THREADS}"
        graph.append(f"[dist{index}][ref{index}]libvmaf={options}:feature=name=psnr[out{index}]")
        outputs += ["-map", f"[out{index}]", "-f", "null", "-"]
    return [*command, "-filter_complex", ";".join(graph), *outputs]


def _escape(path: Path) -> str:
    """A path as a filter option's value: its colons and backslashes escaped."""
    return str(path).replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def _sizes(folder: Path, playlist: MediaPlaylist) -> list[int]:
    return [(folder / s.uri).stat().st_size for s in playlist.segments]


def scores(log_path: Path) -> tuple[tuple[float, ...], tuple[float, ...]]:
    frames = json.loads(log_path.read_text())["frames"]
    vmaf = tuple(round(float(f["metrics"]["vmaf"]), 3) for f in frames)
    psnr = tuple(round(float(f["metrics"].get("psnr_y", 0.0)), 3) for f in frames)
    return vmaf, psnr
