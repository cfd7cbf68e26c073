"""One HLS ladder made three ways, on the same 1080p source with the same encoder settings.

(a) vodstack's whole job, from queued to ready: an idle `vodstack worker` process on
    PostgreSQL (woken by NOTIFY) and a local storage directory downloads the source,
    probes it, plans the ladder, encodes it, and publishes every file to storage;
(b) the floor: the very ffmpeg command vodstack builds, run bare on the local file;
(c) one ffmpeg per rung, run one after another, as PeerTube and MediaCMS do: the same
    command for a one-rung ladder, so each run decodes the source again.

It prints wall and CPU time of each, the ratios a/b (pipeline overhead, goal <= 1.05) and
a/c (goal <= 0.75), the realtime factor, the worker's and ffmpeg's peak RSS for sources of
different lengths (goal: flat), and each rung's quality against the source scaled to that
rung (VMAF where the ffmpeg at hand has libvmaf, else PSNR).

The source is Tears of Steel (CC BY 3.0, from ../shared/media): a real film, upscaled once
to a letterboxed 1920x1080 (or 3840x2160 with --height 2160) and cached under
.venv/share/vodstack/bench/.

    .venv/bin/python -m bench.ladder [--seconds 30] [--rss-seconds 60] [--height 1080]
        [--metric auto|vmaf|psnr] [--json] [--smoke]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import imageio_ffmpeg
from tests.conftest import media
from tests.support.processes import Server, start_server, upload_file
from tests.support.stack import postgres_database, with_api_key

from vodstack.adapters.probe import probe
from vodstack.domain.ffmpeg_args import TranscodeSpec, build_command, rung_playlist
from vodstack.domain.ladder import output_frame_rate, plan_ladder
from vodstack.domain.media import EncoderChoice, Rung
from vodstack.domain.videos import output_prefix

GOAL_OVERHEAD = 1.05  # a/b
GOAL_VERSUS_PER_RUNG = 0.75  # a/c
GOAL_RSS_GROWTH = 1.25  # worker peak RSS, longest source over shortest
FILM = "mdn_tears_of_steel_800x332_vp8_70s.webm"
CACHE = Path(".venv/share/vodstack/bench")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ENCODER = EncoderChoice("libx264", "libx264 (the benchmark's setting)")


@dataclass
class Run:
    """One way of making the ladder: wall and CPU seconds, and peak resident memory."""

    wall: float
    cpu: float
    ffmpeg_peak_rss_mib: float
    worker_peak_rss_mib: float | None = None
    claim_wait: float | None = None  # (a) only: queued to claimed
    extra: dict[str, Any] = field(default_factory=dict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="source length for a, b, c")
    parser.add_argument(
        "--rss-seconds",
        type=float,
        default=60,
        help="a longer source, to compare peak RSS (0: none)",
    )
    parser.add_argument("--metric", choices=("auto", "vmaf", "psnr"), default="auto")
    parser.add_argument(
        "--height",
        type=int,
        choices=(1080, 2160),
        default=1080,
        help="the source's height: 2160 makes it 4K, as phones record, where decoding costs more",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a 1 s source, no longer one, PSNR, no goals"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        # A longer source's job would be the same job again: its RSS is for the full run.
        args.seconds, args.rss_seconds, args.metric = 1.0, 0.0, "psnr"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    metric = args.metric if args.metric != "auto" else _best_metric(ffmpeg)
    with tempfile.TemporaryDirectory(prefix="vodstack-ladder-") as scratch_dir:
        scratch = Path(scratch_dir)
        film = prepare_source(ffmpeg, max(args.seconds, args.rss_seconds), args.height)
        short = cut(ffmpeg, film, args.seconds, scratch / f"source_{args.seconds:g}s.mp4")
        info = probe(short)
        rungs = plan_ladder(info)
        spec = TranscodeSpec(info, rungs, output_frame_rate(info), ENCODER)

        bare = time_command(build_command(ffmpeg, short, _folders(scratch / "b", rungs), spec))
        job, outputs = vodstack_job(scratch / "a", short)
        per_rung = [
            time_command(
                build_command(
                    ffmpeg,
                    short,
                    _folders(scratch / f"c{index}", [rung]),
                    TranscodeSpec(info, [rung], spec.frame_rate, ENCODER),
                )
            )
            for index, rung in enumerate(rungs)
        ]
        separate = Run(
            wall=sum(r.wall for r in per_rung),
            cpu=sum(r.cpu for r in per_rung),
            ffmpeg_peak_rss_mib=max(r.ffmpeg_peak_rss_mib for r in per_rung),
        )
        jobs = [job, *_longer_job(ffmpeg, film, scratch, args.rss_seconds)]
        quality = {
            rung.name: rung_quality(
                ffmpeg, metric, outputs / rung_playlist(rung), short, rung, spec
            )
            for rung in rungs
        }
    report: dict[str, Any] = {
        "source": {
            "film": FILM,
            "width": info.width,
            "height": info.height,
            "frame_rate": float(spec.frame_rate),
            "seconds": info.duration,
            "rungs": [f"{r.name} {r.width}x{r.height}" for r in rungs],
            "encoder": ENCODER.name,
        },
        "vodstack": asdict(job),
        "bare": asdict(bare),
        "per_rung": asdict(separate),
        "ratios": {
            "a_over_b": job.wall / bare.wall,
            "a_over_c": job.wall / separate.wall,
            "cpu_a_over_b": job.cpu / bare.cpu,
            "cpu_a_over_c": job.cpu / separate.cpu,
        },
        "realtime": {
            "vodstack": info.duration / job.wall,
            "bare": info.duration / bare.wall,
            "per_rung": info.duration / separate.wall,
        },
        "rss": {
            "seconds": [args.seconds, args.rss_seconds][: len(jobs)],
            "worker_mib": [j.worker_peak_rss_mib for j in jobs],
            "ffmpeg_mib": [j.ffmpeg_peak_rss_mib for j in jobs],
        },
        "quality": {"metric": metric, "per_rung": quality},
    }
    missed: list[str] = [] if args.smoke else missed_goals(report)
    report["missed_goals"] = missed
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    sys.exit(1 if missed else 0)


def _longer_job(ffmpeg: str, film: Path, scratch: Path, seconds: float) -> list[Run]:
    """vodstack's job on the first ``seconds`` of the film, for its peak RSS; none for 0."""
    if not seconds:
        return []
    longer = cut(ffmpeg, film, seconds, scratch / f"source_{seconds:g}s.mp4")
    return [vodstack_job(scratch / "a_long", longer)[0]]


def prepare_source(ffmpeg: str, seconds: float, height: int = 1080) -> Path:
    """The film upscaled to a letterboxed 1080p at a high bitrate, made once and cached. The
    encode is near-lossless so every rung below has real detail to lose."""
    film = media(FILM)
    target = CACHE / f"tears_of_steel_{height}p_{seconds:g}s.mp4"
    if target.is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part.mp4")
    width = height * 16 // 9
    scale = (
        f"scale={width}:-2:flags=lanczos,pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,"
        "setsar=1,format=yuv420p"
    )
    encode = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "16", "-g", "48"]
    audio = ["-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart"]
    _ffmpeg(
        [ffmpeg, "-i", str(film), "-t", f"{seconds:g}", "-vf", scale, *encode, *audio, str(partial)]
    )
    partial.replace(target)
    return target


def cut(ffmpeg: str, source: Path, seconds: float, target: Path) -> Path:
    """The first ``seconds`` of ``source``, stream-copied: no generation loss."""
    _ffmpeg([ffmpeg, "-i", str(source), "-t", f"{seconds:g}", "-c", "copy", str(target)])
    return target


def _ffmpeg(command: list[str]) -> None:
    base = [command[0], "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    subprocess.run([*base, *command[1:]], check=True)


def _folders(out_dir: Path, rungs: Sequence[Rung]) -> Path:
    for rung in rungs:
        (out_dir / rung.name).mkdir(parents=True, exist_ok=True)
    return out_dir


def time_command(command: list[str]) -> Run:
    """Run one ffmpeg to the end; its wall time, CPU time and peak RSS from wait4."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    if process.returncode != 0:
        raise SystemExit(f"ffmpeg failed: {process.stderr.read().decode(errors='replace')}")
    process.stderr.close()
    return Run(
        wall=wall, cpu=usage.ru_utime + usage.ru_stime, ffmpeg_peak_rss_mib=usage.ru_maxrss / 1024
    )


def vodstack_job(root: Path, source: Path) -> tuple[Run, Path]:
    """Upload ``source`` to an API process and time the job an idle worker process makes of
    it. Returns the run and the folder of the published outputs."""
    root.mkdir(parents=True)
    with (
        postgres_database("vodstack_ladder") as database,
        # In one piece at any length: this measures the one-decode pipeline against bare
        # ffmpeg; bench/chunks measures the chunked one.
        start_server(
            root, "--workers", "0", VODSTACK_CHUNK_SINGLE_BELOW_SECONDS="1e9", **_job_env(database)
        ) as server,
    ):
        worker = server.start_worker(log=root / "worker.log")
        _wait_idle(root / "worker.log")
        before = process_cpu(worker.pid)
        with PeakMemory(worker.pid) as memory:
            video_id = upload_file(server, source)
            video = _wait_settled(server, video_id)
        if video["status"] != "ready":
            raise SystemExit(f"vodstack's job failed: {video['error']}")
        cpu = process_cpu(worker.pid) - before
        events = server.get(f"/v1/videos/{video_id}/events")["events"]
        stages = ("queued", "claimed", "probed", "encoding", "encoded", "ready")
        at = {stage: _event_time(events, stage) for stage in stages}
        epoch = max(e["epoch"] for e in events)
        outputs = server.data_dir / "objects" / output_prefix(video_id, epoch)
        run = Run(
            wall=at["ready"] - at["queued"],
            cpu=cpu,
            ffmpeg_peak_rss_mib=memory.children_mib,
            worker_peak_rss_mib=memory.process_mib,
            claim_wait=at["claimed"] - at["queued"],
            # Where the time between the timeline's events went.
            extra={f"{a} to {b}": at[b] - at[a] for a, b in itertools.pairwise(stages)},
        )
        return run, outputs


def _job_env(database: str) -> dict[str, str]:
    return with_api_key(
        {
            "VODSTACK_DATABASE_URL": database,
            "VODSTACK_ENCODER": ENCODER.name,
            "VODSTACK_PART_SIZE": str(64 * 1024 * 1024),
        }
    )


def _wait_settled(server: Server, video_id: str) -> dict[str, Any]:
    """Once a second: the figures come from the timeline, so a slow poll costs no precision,
    and a fast one would take CPU from the job it measures."""
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        video: dict[str, Any] = server.get(f"/v1/videos/{video_id}")
        if video["status"] in ("ready", "failed"):
            return video
        time.sleep(1.0)
    raise SystemExit(f"the job of {video_id} did not end within 30 minutes")


def _wait_idle(log: Path) -> None:
    """Until the worker has started and looked for work once."""
    deadline = time.monotonic() + 30
    while "slot(s)" not in (log.read_text() if log.exists() else ""):
        if time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start: {log.read_text()}")
        time.sleep(0.1)
    time.sleep(1.0)


def _event_time(events: list[dict[str, Any]], status: str) -> float:
    for event in events:
        if event["status"] == status or event["kind"] == status:
            return datetime.fromisoformat(event["at"]).timestamp()
    raise SystemExit(f"no {status!r} event in the timeline: {events}")


def process_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of its children it has waited for (ffmpeg, once done)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


class PeakMemory:
    """Samples the peak RSS (VmHWM) of a process and of its child processes twice a second:
    the kernel keeps each process's peak, so sampling only has to catch a child before it
    exits."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.process_mib = 0.0
        self.children_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.process_mib = max(self.process_mib, _peak_rss_mib(self.pid))

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.process_mib = max(self.process_mib, _peak_rss_mib(self.pid))
            for child in _children(self.pid):
                self.children_mib = max(self.children_mib, _peak_rss_mib(child))


def _children(pid: int) -> Iterator[int]:
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            yield from (int(child) for child in task.read_text().split())
        except OSError:
            continue


def _peak_rss_mib(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else 0.0


def _best_metric(ffmpeg: str) -> str:
    filters = subprocess.run(
        [ffmpeg, "-hide_banner", "-filters"], capture_output=True, text=True, check=True
    ).stdout
    return "vmaf" if re.search(r"\slibvmaf\s", filters) else "psnr"


def rung_quality(
    ffmpeg: str, metric: str, playlist: Path, source: Path, rung: Rung, spec: TranscodeSpec
) -> float:
    """The rung (read through its playlist, as a player would) against the source put
    through the same frame rate and scaling as the encoder's input: only the encode's loss
    is measured, not the downscale's."""
    rate = f"{spec.frame_rate.numerator}/{spec.frame_rate.denominator}"
    reference = f"[1:v]fps={rate},scale=w={rung.width}:h={rung.height}:out_range=tv,format=yuv420p"
    return compare_to_reference(ffmpeg, metric, playlist, ["-i", str(source)], reference, rung.name)


def compare_to_reference(
    ffmpeg: str,
    metric: str,
    playlist: Path,
    source_input: Sequence[str],
    reference: str,
    name: str,
    subsample: int = 5,
) -> float:
    """VMAF (or PSNR) of the rendition behind ``playlist`` against ``reference``: a filter
    chain that reads input 1 (``source_input``, its options and ``-i``) and ends
    unlabelled. VMAF scores every ``subsample``-th frame: the mean of a few seconds of
    video moves by hundredths, and it costs a fraction of the time."""
    compare = f"libvmaf=n_threads=2:n_subsample={subsample}" if metric == "vmaf" else "psnr"
    graph = (
        f"[0:v]setpts=PTS-STARTPTS,format=yuv420p[encoded];"
        f"{reference},setpts=PTS-STARTPTS[reference];"
        f"[encoded][reference]{compare}"
    )
    inputs = ["-allowed_extensions", "ALL", "-i", str(playlist), *source_input]
    done = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", *inputs, "-lavfi", graph, "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    pattern = r"VMAF score: ([\d.]+)" if metric == "vmaf" else r"PSNR .*average:([\d.]+|inf)"
    found = re.findall(pattern, done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{metric} of {name} failed: {done.stderr[-2000:]}")
    return float(found[-1])


def missed_goals(report: dict[str, Any]) -> list[str]:
    ratios, rss = report["ratios"], report["rss"]
    missed = []
    if ratios["a_over_b"] > GOAL_OVERHEAD:
        missed.append(f"a/b = {ratios['a_over_b']:.3f} > {GOAL_OVERHEAD}")
    if ratios["a_over_c"] > GOAL_VERSUS_PER_RUNG:
        missed.append(f"a/c = {ratios['a_over_c']:.3f} > {GOAL_VERSUS_PER_RUNG}")
    short_rss, long_rss = rss["worker_mib"][0], rss["worker_mib"][-1]
    if long_rss > GOAL_RSS_GROWTH * short_rss:
        missed.append(f"worker peak RSS grew from {short_rss:.0f} to {long_rss:.0f} MiB")
    return missed


def print_report(report: dict[str, Any]) -> None:
    source = report["source"]
    print(
        f"source: {source['film']} at {source['width']}x{source['height']} "
        f"{source['frame_rate']:g} fps, {source['seconds']:.1f} s; encoder {source['encoder']}; "
        f"rungs: {', '.join(source['rungs'])}"
    )
    print()
    print(f"{'':<34} {'wall s':>8} {'CPU s':>8} {'x realtime':>10} {'ffmpeg RSS':>11}")
    rows = (
        ("(a) vodstack job, queued to ready", "vodstack"),
        ("(b) one bare ffmpeg (the floor)", "bare"),
        ("(c) one ffmpeg per rung", "per_rung"),
    )
    for label, key in rows:
        run = report[key]
        print(
            f"{label:<34} {run['wall']:>8.2f} {run['cpu']:>8.2f} "
            f"{report['realtime'][key]:>10.2f} {run['ffmpeg_peak_rss_mib']:>7.0f} MiB"
        )
    ratios = report["ratios"]
    print()
    print(f"a/b wall {ratios['a_over_b']:.3f} (goal <= {GOAL_OVERHEAD}), ", end="")
    print(f"CPU {ratios['cpu_a_over_b']:.3f}")
    print(
        f"a/c wall {ratios['a_over_c']:.3f} (goal <= {GOAL_VERSUS_PER_RUNG}), "
        f"CPU {ratios['cpu_a_over_c']:.3f}"
    )
    print(
        "(a) step by step: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in report["vodstack"]["extra"].items())
    )
    rss = report["rss"]
    print()
    print("peak RSS by source length   worker process   its ffmpeg")
    for seconds, worker, ffmpeg in zip(
        rss["seconds"], rss["worker_mib"], rss["ffmpeg_mib"], strict=True
    ):
        print(f"{seconds:>24g} s {worker:>12.0f} MiB {ffmpeg:>8.0f} MiB")
    quality = report["quality"]
    print()
    print(f"quality against the scaled source ({quality['metric'].upper()}):")
    for name, score in quality["per_rung"].items():
        print(f"  {name:<8} {score:.2f}")
    for line in report["missed_goals"]:
        print(f"MISSED: {line}")


if __name__ == "__main__":
    main()
