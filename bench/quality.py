"""Rate control: what each way of choosing the bits costs in bytes, quality and time.

For each source, the whole HLS ladder three ways, back to back (the order reversed from one
source to the next, so that a machine's drift cancels out):

``fixed``     each rung at the fixed ladder's bitrate (``RateControl.FIXED``: 1080p 5 Mbps,
              720p 2.8, 480p 1.4, 240p 0.4; maxrate 1.1x, bufsize 2x), whatever the content;
``peertube``  PeerTube's default x264 profile (``ffmpeg-default-transcoding-profile.ts`` and
              ``core-utils/src/videos/bitrate.ts``): x264's default CRF 23 (PeerTube sets
              no ``-crf`` nor ``-b:v``), ``-b_strategy 1 -bf 16``, under ``-maxrate T
              -bufsize 2T`` where T = max(min bitrate, min(average bitrate, 1.3 x the
              source's bitrate)), each from its bits-per-pixel table;
``vodstack``  ``FfmpegTranscoder.plan_ladder``: each rung at its CRF under a cap fitted to a
              short analysis of the source, whose time is counted in the encode's.

The layout is vodstack's in all three (one ffmpeg decodes the source once and encodes every
rung, at the same sizes, frame rate and keyframe grid), so only the rate control differs.
The audio is left out: it is the same in every strategy and would only dilute the ratios.

Per source and rung: bytes, average and peak bitrate (the peak is the master playlist's:
RFC 8216's, over runs of the 6 s segments), the peak's share of the average, VMAF against
the source put through the same shared filters (deinterlacing, frame rate, tone mapping)
and scaling as the encoder's input (every 5th frame scored: ``n_subsample=5``), and the
encode's wall and CPU time (its ffmpeg's, from wait4; with ``--repeats N``, the median of
N rounds, each round's order the reverse of the last). Then per source the ratios of ladder
bytes and time to ``fixed`` and the VMAF difference (the mean over rungs and the worst
rung), and over the sources their medians.

    .venv/bin/python -m bench.quality                         # 10 sources and the long film
    .venv/bin/python -m bench.quality --repeats 3             # times: the median of 3
    .venv/bin/python -m bench.quality --long-seconds 30 --sources a.mp4,b.webm
    .venv/bin/python -m bench.quality --smoke --json          # one source, 2 s

Goals, on the medians over the sources: ``vodstack`` spends at most 0.75 of ``fixed``'s
bytes at a VMAF at most 1 point below it (mean over rungs), in at most 1.10x its encode
time (wall). Exits 1 when one is missed (never with --smoke).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import imageio_ffmpeg
from tests.conftest import media

from bench.ladder import _best_metric, compare_to_reference, prepare_source, time_command
from vodstack.adapters.ffmpeg import FfmpegTranscoder
from vodstack.adapters.quality import measure_rungs
from vodstack.domain.ffmpeg_args import (
    QUALITY,
    TranscodeSpec,
    build_command,
    filter_graph,
    input_options,
    rung_playlist,
)
from vodstack.domain.ladder import RateControl, output_frame_rate, plan_ladder
from vodstack.domain.media import EncoderChoice, Rung, SourceInfo
from vodstack.domain.playlist import measure_bandwidth, parse_media_playlist
from vodstack.domain.quality import plan_samples

SOURCES = (
    "moviepy_smpte_1080p25_10s.mp4",
    "axm_sowt_1080p50_h264_pcm.mov",
    "axm_bbb_1080p60_vp8_vorbis51.webm",
    "axm_pixel7_1080p_vfr_noaudio_rot180.mp4",
    "axm_hdr10_1080p_hevc_main10.mp4",
    "interlaced_480i_tff_mpeg2_ac3.mkv",
    "axm_sample_portrait_720x1080.mp4",
    "axm_bbb_1080p_mpeg2_mp2.ts",
    "moviepy_fire2_720p_vfr_rot180.mp4",
)
# The one real film of some length in the set, whole. (The two 6-minute samples are a still
# picture at 20 kbit/s: every strategy spends next to nothing on them.)
LONG_FILM = "mdn_tears_of_steel_800x332_vp8_70s.webm"
SMOKE_SOURCE = "mdn_tears_of_steel_800x332_vp8_70s.webm"
STRATEGIES = ("fixed", "peertube", "vodstack")
ENCODER = EncoderChoice("libx264", "bench")
VMAF_SUBSAMPLE = 5
TIME_KEYS = (
    *("encode_wall", "encode_cpu", "analysis_wall", "analysis_cpu"),
    *("receipt_wall", "receipt_cpu", "wall", "cpu"),
)
GOAL_BYTES_RATIO = 0.75
GOAL_VMAF_DELTA = -1.0
GOAL_TIME_RATIO = 1.10
GOAL_RECEIPT_SHARE = 0.10  # of the encode's wall time

# PeerTube's bits per pixel (core-utils/src/videos/bitrate.ts), by the largest of these
# resolutions at or under the rung's short side; its floor is 0.02 for every resolution.
PEERTUBE_AVERAGE_BPP = {144: 0.19, 240: 0.17, 360: 0.15, 480: 0.12, 720: 0.11, 1080: 0.10}
PEERTUBE_AVERAGE_BPP |= {1440: 0.09, 2160: 0.08}
PEERTUBE_MIN_BPP = 0.02
PEERTUBE_INPUT_FACTOR = 1.3
PEERTUBE_CRF = 23  # x264's own default: PeerTube's profile sets no rate factor
PEERTUBE_X264 = ("-b_strategy", "1", "-bf", "16")


def peertube_bitrate(short_side: int, aspect: float, fps: float, table: dict[int, float]) -> int:
    """PeerTube's ``calculateBitrate``: pixels per second times the bits per pixel of the
    largest table resolution at or under ``short_side``."""
    long_side = short_side * aspect if aspect >= 1 else short_side / aspect
    key = max((r for r in table if r <= short_side), default=min(table))
    return math.floor(short_side * long_side * fps * table[key])


def peertube_rungs(rungs: Sequence[Rung], info: SourceInfo, input_bitrate: int) -> list[Rung]:
    """``rungs`` (their sizes) with PeerTube's rate control: CRF 23 under its cap T."""
    fps = float(output_frame_rate(info))
    aspect = info.display_width / info.display_height
    out = []
    for rung in rungs:
        short = min(rung.width, rung.height)
        average = peertube_bitrate(short, aspect, fps, PEERTUBE_AVERAGE_BPP)
        floor = peertube_bitrate(
            short, aspect, fps, dict.fromkeys(PEERTUBE_AVERAGE_BPP, PEERTUBE_MIN_BPP)
        )
        target = max(floor, min(average, int(input_bitrate * PEERTUBE_INPUT_FACTOR)))
        out.append(dataclasses.replace(rung, crf=PEERTUBE_CRF, maxrate=target, bufsize=2 * target))
    return out


def with_peertube_x264(command: list[str]) -> list[str]:
    """PeerTube's B-frame options after each ``-c:v libx264``."""
    out: list[str] = []
    for index, arg in enumerate(command):
        out.append(arg)
        if arg == "libx264" and index > 0 and command[index - 1] == "-c:v":
            out += PEERTUBE_X264
    return out


@dataclasses.dataclass
class Source:
    """One source as measured: its probe (with its duration cut to what is encoded) and
    where it is linked, so that the analysis writes beside the link, not beside the file."""

    name: str
    path: Path
    info: SourceInfo
    seconds: float
    cut: bool  # encoded with -t
    input_bitrate: int


async def prepare(transcoder: FfmpegTranscoder, name: str, seconds: float, work: Path) -> Source:
    link, size = await asyncio.to_thread(_link, name, work)
    probed = await transcoder.probe(link)
    length = min(probed.duration, seconds)
    # The analysis looks only where the encode does, and no strategy encodes sound.
    info = dataclasses.replace(probed, duration=length, has_audio=False)
    bitrate = round(size * 8 / probed.duration)
    return Source(name, link, info, length, length < probed.duration, bitrate)


def _link(name: str, work: Path) -> tuple[Path, int]:
    """The shared file linked into ``work``, and its size."""
    original = media(name).resolve()
    work.mkdir(parents=True)
    link = work / name
    link.symlink_to(original)
    return link, original.stat().st_size


async def encode(
    transcoder: FfmpegTranscoder, ffmpeg: str, source: Source, strategy: str, out_dir: Path
) -> dict[str, Any]:
    """One strategy's ladder of ``source`` into ``out_dir``, timed; its plan and times."""
    analysis = {"analysis_wall": 0.0, "analysis_cpu": 0.0}
    if strategy == "vodstack":
        before_cpu, started = _children_cpu(), time.monotonic()
        rungs = await transcoder.plan_ladder(source.path, source.info)
        analysis = {
            "analysis_wall": time.monotonic() - started,
            "analysis_cpu": _children_cpu() - before_cpu,
        }
    else:
        rungs = plan_ladder(source.info, rate_control=RateControl.FIXED)
        if strategy == "peertube":
            rungs = peertube_rungs(rungs, source.info, source.input_bitrate)
    frame_rate = output_frame_rate(source.info)
    # vodstack's encode keeps the receipt's reference frames as it goes, and measures after.
    samples = None
    if strategy == "vodstack":
        samples = plan_samples(source.seconds, frame_rate, bool(source.info.stills))
    spec = TranscodeSpec(
        source.info,
        rungs,
        frame_rate,
        ENCODER,
        can_tonemap=True,
        max_seconds=source.seconds if source.cut else None,
        samples=samples,
    )
    for folder in [*(r.name for r in rungs), QUALITY]:
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    command = build_command(ffmpeg, source.path, out_dir, spec)
    if strategy == "peertube":
        command = with_peertube_x264(command)
    run = time_command(command)
    receipt = await _receipt(ffmpeg, out_dir, spec) if strategy == "vodstack" else (0.0, 0.0)
    return {
        "rungs": rungs,
        "spec": dataclasses.replace(spec, samples=None),
        "encode_wall": run.wall,
        "encode_cpu": run.cpu,
        **analysis,
        "receipt_wall": receipt[0],
        "receipt_cpu": receipt[1],
        "wall": run.wall + analysis["analysis_wall"] + receipt[0],
        "cpu": run.cpu + analysis["analysis_cpu"] + receipt[1],
    }


async def _receipt(ffmpeg: str, out_dir: Path, spec: TranscodeSpec) -> tuple[float, float]:
    """The wall and CPU seconds of measuring the receipt's sampled frames, as the worker
    does after its encode."""

    async def run(command: list[str], seconds: float) -> None:
        await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)

    names = [r.name for r in spec.rungs]
    keyframes = dict.fromkeys(names, True)
    before_cpu, started = _children_cpu(), time.monotonic()
    await measure_rungs(ffmpeg, run, out_dir, names, spec.samples, spec.frame_rate, keyframes)
    return time.monotonic() - started, _children_cpu() - before_cpu


async def timed_encodes(
    transcoder: FfmpegTranscoder,
    ffmpeg: str,
    source: Source,
    order: Sequence[str],
    work: Path,
    repeats: int,
) -> dict[str, dict[str, Any]]:
    """Each strategy's encode ``repeats`` times, in rounds, the order reversed from one round
    to the next: the times are the medians over the rounds, the outputs the last round's
    (the same files: the encodes are deterministic). The source is decoded once before, so
    that the first encode does not pay alone for reading it from disk."""
    warm_up(ffmpeg, source)
    runs: dict[str, list[dict[str, Any]]] = {strategy: [] for strategy in order}
    for round_ in range(repeats):
        for strategy in order if round_ % 2 == 0 else order[::-1]:
            runs[strategy].append(
                await encode(transcoder, ffmpeg, source, strategy, work / strategy)
            )
    return {
        strategy: {**done[-1], **{k: statistics.median(d[k] for d in done) for k in TIME_KEYS}}
        for strategy, done in runs.items()
    }


def warm_up(ffmpeg: str, source: Source) -> None:
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "fatal", *source_input(source)]
    subprocess.run([*command, "-map", "0:V:0", "-f", "null", "-"], check=True)


def source_input(source: Source) -> list[str]:
    """How every ffmpeg here opens the source: as vodstack does, cut where the encode is."""
    limit = ["-t", f"{source.seconds:.3f}"] if source.cut else []
    options = input_options(source.path).items()
    return [
        *limit,
        *(arg for key, value in options for arg in (f"-{key}", value)),
        "-i",
        str(source.path),
    ]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_rung(
    ffmpeg: str, metric: str, source: Source, out_dir: Path, rung: Rung, spec: TranscodeSpec
) -> dict[str, Any]:
    """One rung as written: its size, bitrates, and its quality against the source through
    the same filters as the encoder's input (the graph vodstack builds, for this rung)."""
    folder = out_dir / rung.name
    playlist = parse_media_playlist((folder / "index.m3u8").read_text())
    sizes = [(s.duration, (folder / s.uri).stat().st_size) for s in playlist.segments]
    peak, average = measure_bandwidth(sizes, playlist.target_duration)
    init = (folder / playlist.map_uri).stat().st_size if playlist.map_uri else 0
    one = dataclasses.replace(spec, rungs=[rung])
    reference = filter_graph(one).replace("[0:V:0]", "[1:V:0]", 1).removesuffix("[v0]")
    score = compare_to_reference(
        ffmpeg,
        metric,
        out_dir / rung_playlist(rung),
        source_input(source),
        reference,
        rung.name,
        VMAF_SUBSAMPLE,
    )
    return {
        "name": rung.name,
        "width": rung.width,
        "height": rung.height,
        "crf": rung.crf,
        "maxrate": rung.maxrate,
        "bufsize": rung.bufsize,
        "bytes": init + sum(size for _, size in sizes),
        "average_bps": average,
        "peak_bps": peak,
        "peak_to_average": peak / average if average else 0.0,
        "score": score,
    }


async def measure_source(
    transcoder: FfmpegTranscoder,
    ffmpeg: str,
    metric: str,
    source: Source,
    order: Sequence[str],
    work: Path,
    repeats: int = 1,
) -> dict[str, Any]:
    """The three strategies' encodes back to back in ``order``, then each rung measured."""
    encodes = await timed_encodes(transcoder, ffmpeg, source, order, work, repeats)
    strategies: dict[str, Any] = {}
    for strategy in STRATEGIES:
        done = encodes[strategy]
        rungs = [
            measure_rung(ffmpeg, metric, source, work / strategy, rung, done["spec"])
            for rung in done["rungs"]
        ]
        times = {k: v for k, v in done.items() if k not in ("rungs", "spec")}
        strategies[strategy] = {**times, "bytes": sum(r["bytes"] for r in rungs), "rungs": rungs}
    info = source.info
    return {
        "source": source.name,
        "width": info.display_width,
        "height": info.display_height,
        "frame_rate": float(output_frame_rate(info)),
        "seconds": source.seconds,
        "input_bitrate": source.input_bitrate,
        "order": list(order),
        "strategies": strategies,
        "versus_fixed": {s: versus(strategies["fixed"], strategies[s]) for s in STRATEGIES[1:]},
    }


def versus(fixed: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    """``other`` against ``fixed``: bytes and time ratios, and the score difference, the
    mean over rungs and the worst rung."""
    deltas = [b["score"] - a["score"] for a, b in zip(fixed["rungs"], other["rungs"], strict=True)]
    return {
        "bytes_ratio": other["bytes"] / fixed["bytes"],
        "score_delta_mean": statistics.fmean(deltas),
        "score_delta_worst": min(deltas),
        # The encode with what it needs first (the analysis), then with the receipt too.
        "encode_ratio": (other["encode_wall"] + other["analysis_wall"]) / fixed["encode_wall"],
        "wall_ratio": other["wall"] / fixed["wall"],
        "cpu_ratio": other["cpu"] / fixed["cpu"],
        "receipt_share": other["receipt_wall"] / other["encode_wall"],
    }


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Over the sources: the median of each ratio, per strategy against ``fixed``, and per
    rung name the highest peak-to-average ratio each strategy reached."""
    medians = {
        strategy: {
            key: statistics.median(row["versus_fixed"][strategy][key] for row in rows)
            for key in rows[0]["versus_fixed"][strategy]
        }
        for strategy in STRATEGIES[1:]
    }
    peaks: dict[str, dict[str, float]] = {}
    for strategy in STRATEGIES:
        for row in rows:
            for rung in row["strategies"][strategy]["rungs"]:
                worst = peaks.setdefault(strategy, {}).get(rung["name"], 0.0)
                peaks[strategy][rung["name"]] = max(worst, rung["peak_to_average"])
    return {"medians": medians, "peak_to_average_max": peaks}


def missed_goals(summary: dict[str, Any]) -> list[str]:
    ours = summary["medians"]["vodstack"]
    missed = []
    if ours["bytes_ratio"] > GOAL_BYTES_RATIO:
        missed.append(f"median bytes vodstack/fixed {ours['bytes_ratio']:.3f} > {GOAL_BYTES_RATIO}")
    if ours["score_delta_mean"] < GOAL_VMAF_DELTA:
        missed.append(
            f"median score delta vodstack-fixed {ours['score_delta_mean']:+.2f} < {GOAL_VMAF_DELTA}"
        )
    if ours["encode_ratio"] > GOAL_TIME_RATIO:
        missed.append(
            f"median encode time vodstack/fixed {ours['encode_ratio']:.3f} > {GOAL_TIME_RATIO}"
        )
    if ours["receipt_share"] > GOAL_RECEIPT_SHARE:
        missed.append(f"median receipt share {ours['receipt_share']:.3f} > {GOAL_RECEIPT_SHARE}")
    return missed


def render(report: dict[str, Any]) -> str:
    lines = [f"score: {report['metric'].upper()}; times are wall (CPU) seconds"]
    for row in report["sources"]:
        lines += ["", _source_heading(row)]
        lines.append(
            f"  {'strategy':<9} {'rung':<6} {'crf':>4} {'cap kb/s':>9} {'bytes':>10} "
            f"{'avg kb/s':>9} {'peak kb/s':>9} {'peak/avg':>8} {'score':>6}"
        )
        for strategy in STRATEGIES:
            done = row["strategies"][strategy]
            for rung in done["rungs"]:
                lines.append(
                    f"  {strategy:<9} {rung['name']:<6} {rung['crf'] or '-':>4} "
                    f"{rung['maxrate'] / 1000:>9.0f} {rung['bytes']:>10} "
                    f"{rung['average_bps'] / 1000:>9.0f} {rung['peak_bps'] / 1000:>9.0f} "
                    f"{rung['peak_to_average']:>8.2f} {rung['score']:>6.2f}"
                )
            lines.append(_times(strategy, done))
        for strategy, ratios in row["versus_fixed"].items():
            lines.append(f"  {strategy}/fixed: {_ratios(ratios)}")
    lines += ["", "medians over the sources, against fixed:"]
    for strategy, ratios in report["summary"]["medians"].items():
        lines.append(f"  {strategy:<9} {_ratios(ratios)}")
    lines += ["", "highest peak/average per rung (Apple: at most 2):"]
    for strategy, peaks in report["summary"]["peak_to_average_max"].items():
        lines.append(f"  {strategy:<9} " + ", ".join(f"{n} {v:.2f}" for n, v in peaks.items()))
    if report.get("top_rungs"):
        top = report["top_rungs"]
        lines += ["", f"rungs above 1080p, a {top['seconds']:g} s 2160p film (CPU s, bytes):"]
        for max_rung, row in top["ladders"].items():
            lines.append(
                f"  up to {max_rung}p: {'+'.join(row['rungs'])}: {row['cpu']:.1f} s CPU "
                f"({row['cpu_ratio']:.2f}x), {row['bytes']} bytes"
            )
    lines += [f"MISSED: {line}" for line in report["missed_goals"]]
    return "\n".join(lines)


def _source_heading(row: dict[str, Any]) -> str:
    return (
        f"{row['source']}: {row['width']}x{row['height']} {row['frame_rate']:g} fps, "
        f"{row['seconds']:.1f} s, {row['input_bitrate'] / 1000:.0f} kb/s; "
        f"order {', '.join(row['order'])}"
    )


def _times(strategy: str, done: dict[str, Any]) -> str:
    text = f"  {strategy:<9} total {done['bytes']} bytes, {done['wall']:.2f} s ({done['cpu']:.2f})"
    if done["analysis_wall"]:
        text += f", of which analysis {done['analysis_wall']:.2f} s ({done['analysis_cpu']:.2f})"
    if done["receipt_wall"]:
        share = done["receipt_wall"] / done["encode_wall"]
        text += f", receipt {done['receipt_wall']:.2f} s ({share:.1%} of the encode)"
    return text


def _ratios(ratios: dict[str, float]) -> str:
    return (
        f"bytes {ratios['bytes_ratio']:.3f}, score {ratios['score_delta_mean']:+.2f} mean "
        f"{ratios['score_delta_worst']:+.2f} worst rung, encode {ratios['encode_ratio']:.3f}, "
        f"all {ratios['wall_ratio']:.3f} (CPU {ratios['cpu_ratio']:.3f})"
        + (f", receipt {ratios['receipt_share']:.1%}" if ratios["receipt_share"] else "")
    )


async def top_rungs(ffmpeg: str, transcoder: FfmpegTranscoder, seconds: float) -> dict[str, Any]:
    """What the rungs above 1080p cost: the quality ladder of Tears of Steel upscaled to a
    letterboxed 2160p, up to 1080p, 1440p and 2160p, one encode each; CPU and bytes, and
    their ratio to the ladder that stops at 1080p."""
    path = await asyncio.to_thread(prepare_source, ffmpeg, seconds, 2160)
    info = await transcoder.probe(path)
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="vodstack-top-") as scratch:
        for max_rung in (1080, 1440, 2160):
            out_dir = Path(scratch) / str(max_rung)
            rungs = plan_ladder(info, max_rung=max_rung)
            spec = TranscodeSpec(info, rungs, output_frame_rate(info), ENCODER)
            for rung in rungs:
                (out_dir / rung.name).mkdir(parents=True)
            run = time_command(build_command(ffmpeg, path, out_dir, spec))
            size = sum(f.stat().st_size for f in out_dir.rglob("*.m4s"))
            found[str(max_rung)] = {"rungs": [r.name for r in rungs], "cpu": run.cpu, "bytes": size}
    for row in found.values():
        row["cpu_ratio"] = row["cpu"] / found["1080"]["cpu"]
    return {"seconds": seconds, "ladders": found}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="each source's length, at most")
    parser.add_argument("--long-seconds", type=float, default=70, help="the long film's cut")
    parser.add_argument("--sources", help="comma-separated names in ../shared/media")
    parser.add_argument("--metric", choices=("auto", "vmaf", "psnr"), default="auto")
    parser.add_argument(
        "--repeats", type=int, default=1, help="encodes per strategy; times are the median"
    )
    parser.add_argument(
        "--top-seconds", type=float, default=10, help="the 2160p film's length; 0: skip it"
    )
    parser.add_argument("--smoke", action="store_true", help="one source, 2 s, no goals")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def plan_sources(args: argparse.Namespace) -> list[tuple[str, float]]:
    if args.smoke:
        return [(SMOKE_SOURCE, 2.0)]
    names = args.sources.split(",") if args.sources else [*SOURCES, LONG_FILM]
    return [(n, args.long_seconds if n == LONG_FILM else args.seconds) for n in names]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    metric = args.metric if args.metric != "auto" else _best_metric(ffmpeg)
    transcoder = FfmpegTranscoder(ffmpeg, "libx264")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vodstack-quality-") as scratch:
        for index, (name, seconds) in enumerate(plan_sources(args)):
            work = Path(scratch) / str(index)
            source = await prepare(transcoder, name, seconds, work / "source")
            order = STRATEGIES if index % 2 == 0 else STRATEGIES[::-1]
            rows.append(
                await measure_source(transcoder, ffmpeg, metric, source, order, work, args.repeats)
            )
            print(f"measured {name}", file=sys.stderr, flush=True)
    summary = summarise(rows)
    top = None
    if args.top_seconds > 0 and not args.smoke:
        top = await top_rungs(ffmpeg, transcoder, args.top_seconds)
    return {
        "top_rungs": top,
        "metric": metric,
        "vmaf_subsample": VMAF_SUBSAMPLE,
        "repeats": args.repeats,
        "enforced": not args.smoke,
        "sources": rows,
        "summary": summary,
        "missed_goals": [] if args.smoke else missed_goals(summary),
    }


def main() -> None:
    args = parse_args()
    report = asyncio.run(run(args))
    print(json.dumps(report) if args.json else render(report))
    sys.exit(1 if report["missed_goals"] else 0)


if __name__ == "__main__":
    main()
