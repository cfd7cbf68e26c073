"""Chunked encoding, measured side by side in one run.

(1) Playable: a `vodstack worker` (one slot, the whole machine) on PostgreSQL and a storage
    directory takes a 6-minute 1080p upload. From the job's timeline: upload complete to
    first playable, and to ready. A real hls.js player in headless Chromium opens the
    video's page the moment it is playable and watches it, muted, at normal speed: its
    stalls and stall time. Then a longer source, built from the first by repeating it, to
    first playable (deleted then: only its first seconds are of interest).
(2) Workers: the full ladder of the 6-minute source with 1 and with 2 workers, each worker
    pinned to a core of its own (`taskset`), standing in for a machine each: the speedup.
    With `--legs`, also 2 workers on the plan one worker gets (`two_coarse`: chunks not
    cut for the live slots), and 1 worker on the plan 4 live slots get (`one_fine`: 3
    more slots enrolled that take nothing): what a finer plan gains and costs.
(3) Overhead: the same source unchunked (one ffmpeg for the whole ladder), on one pinned
    core, against (2)'s one chunked worker: the share of CPU that chunking costs.
(4) Quality: a real film (Tears of Steel, upscaled to 1080p) encoded whole and in chunks
    with the very commands the worker builds: each rung's VMAF (or PSNR) both ways, and the
    score of every 6 s segment at a chunk's start against its neighbours.
(5) Scale: from (2)'s measured part costs and claim latency and the measured cost of
    assembling the playlists, the time to ready for 4 to 64 workers, by the claim order
    workers follow, and where it stops scaling.

    .venv/bin/python -m bench.chunks [--seconds S] [--repeat 3] [--watch S] [--json] [--smoke]
        [--source NAME|film] [--legs one,two,one_tier,unchunked,two_coarse,one_fine]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
from tests.conftest import media
from tests.support.processes import Server, start_server, upload_file
from tests.support.stack import postgres_database, query

from bench.chunk_model import part_costs, scale_table, segment_scores, stitch_seconds
from bench.ladder import (
    _best_metric,
    _event_time,
    _ffmpeg,
    _job_env,
    _wait_idle,
    cut,
    prepare_source,
    process_cpu,
)

SOURCE = "axm_long_1080p30_6min_lowbitrate.mp4"
FILM_HEIGHT = 720  # `--source film`: a real film, at the size the short-film figures use
SMOKE_SOURCE = "mdn_tears_of_steel_800x332_vp8_70s.webm"
GOAL_PLAYABLE_SECONDS = 10.0
GOAL_SPEEDUP = 1.8
GOAL_OVERHEAD = 0.05
GOAL_VMAF_DELTA = 0.5
GOAL_BOUNDARY_DELTA = 2.0
VIEWER = Path(__file__).with_name("viewer.mjs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0, help="cut the source (0: all)")
    parser.add_argument(
        "--source",
        default=SOURCE,
        help="a file of ../shared/media, or 'film': Tears of Steel upscaled to 720p",
    )
    parser.add_argument(
        "--legs", default=",".join(DEFAULT_LEGS), help="the worker legs, of " + LEG_NAMES
    )
    parser.add_argument("--repeat", type=int, default=3, help="the longer source: N times it")
    parser.add_argument("--watch", type=float, default=0, help="viewer seconds (0: to the end)")
    parser.add_argument("--film-seconds", type=float, default=70, help="the quality film")
    parser.add_argument("--metric", choices=("auto", "vmaf", "psnr"), default="auto")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="12 s of a 332p film for everything, a 2 s watch, two worker legs, PSNR, no goals",
    )
    parser.add_argument(
        "--only", default="playable,workers,quality", help="some of playable,workers,quality"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    if args.smoke:
        args.seconds, args.repeat, args.metric = 12.0, 2, "psnr"
        # The viewer starts and reports; tests/e2e/test_browser.py plays across a boundary.
        args.watch = 2.0
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    metric = args.metric if args.metric != "auto" else _best_metric(ffmpeg)
    with tempfile.TemporaryDirectory(prefix="vodstack-chunks-") as scratch_dir:
        scratch = Path(scratch_dir)
        source = _source(ffmpeg, scratch, args)
        longer = _repeated(ffmpeg, source, args.repeat, scratch / f"longer{source.suffix}")
        env = _stack_env(smoke=args.smoke)
        report: dict[str, Any] = {"source": _describe(source), "longer": _describe(longer)}
        if "playable" in sections:
            report["playable"] = measure_playable(scratch / "playable", source, longer, env, args)
        if "workers" in sections:
            legs = SMOKE_LEGS if args.smoke else tuple(args.legs.split(","))
            report["workers"] = measure_workers(scratch / "workers", source, env, legs)
        if "quality" in sections:
            film = source if args.smoke else prepare_source(ffmpeg, args.film_seconds)
            report["quality"] = segment_scores(ffmpeg, film, scratch / "quality", metric)
    if "workers" in report:
        parts, stitch = report["workers"]["parts"], report["workers"]["stitch_seconds"]
        report["scale"] = scale_table(parts, stitch)
        report["ratios"] = _ratios(report)
    missed = [] if args.smoke else missed_goals(report)
    report["missed_goals"] = missed
    print(json.dumps(report) if args.json else render(report))
    sys.exit(1 if missed else 0)


def _source(ffmpeg: str, scratch: Path, args: argparse.Namespace) -> Path:
    if args.source == "film" and not args.smoke:
        return prepare_source(ffmpeg, args.seconds or args.film_seconds, height=FILM_HEIGHT)
    name = SMOKE_SOURCE if args.smoke else args.source
    if not args.seconds:
        return media(name)
    found = media(name)
    return cut(ffmpeg, found, args.seconds, scratch / f"source_{args.seconds:g}s{found.suffix}")


def _repeated(ffmpeg: str, source: Path, times: int, target: Path) -> Path:
    """``source`` played ``times`` over, stream-copied: a longer upload at no encoding cost."""
    listing = target.with_suffix(".txt")
    listing.write_text("".join(f"file '{source.resolve()}'\n" for _ in range(times)))
    _ffmpeg([ffmpeg, "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(target)])
    return target


def _describe(path: Path) -> dict[str, Any]:
    from vodstack.adapters.probe import probe

    info = probe(path)
    return {"file": path.name, "seconds": info.duration, "size": f"{info.width}x{info.height}"}


def _stack_env(*, smoke: bool) -> dict[str, str]:
    env = {"VODSTACK_ENCODER": "libx264"}
    if smoke:  # the smoke source is 12 s and 332p: split it anyway, in two tiers
        env |= {"VODSTACK_CHUNK_SINGLE_BELOW_SECONDS": "0", "VODSTACK_FIRST_TIER_HEIGHT": "240"}
    return env


@contextmanager
def _stack(root: Path, env: dict[str, str]) -> Iterator[Server]:
    root.mkdir(parents=True)
    with (
        postgres_database("vodstack_chunks") as database,
        start_server(root, "--workers", "0", **(_job_env(database) | env)) as server,
    ):
        yield server


def _worker(server: Server, root: Path, name: str, core: int | None = None) -> int:
    """A worker process, pinned to ``core`` when given; its pid, once it looks for work."""
    log = root / f"{name}.log"
    pin = [] if core is None else ["taskset", "-c", str(core)]
    vodstack = [sys.executable, "-m", "vodstack"]
    worker = server.start_worker(log=log, command=[*pin, *vodstack, "worker"])
    _wait_idle(log)
    return worker.pid


def _wait(server: Server, video_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    """Twice a second: the figures come from the timeline, not from this poll."""
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        video: dict[str, Any] = server.get(f"/v1/videos/{video_id}")
        if video["status"] in statuses:
            return video
        if video["status"] == "failed":
            raise SystemExit(f"video {video_id} failed: {video['error']}")
        time.sleep(0.5)
    raise SystemExit(f"video {video_id} did not reach {statuses} within an hour")


def _since_upload(server: Server, video_id: str, kind: str) -> float:
    events = server.get(f"/v1/videos/{video_id}/events")["events"]
    return _event_time(events, kind) - _event_time(events, "queued")


def measure_playable(
    root: Path, source: Path, longer: Path, env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    with _stack(root, env) as server:
        _worker(server, root, "worker")
        video_id = upload_file(server, source)
        video = _wait(server, video_id, ("playable", "ready"))
        viewer = _watch(server, video_id, args.watch or video["duration"])
        _wait(server, video_id, ("ready",))
        first = {
            "to_playable": _since_upload(server, video_id, "playable"),
            "to_ready": _since_upload(server, video_id, "assembled"),
            "viewer": viewer,
        }
        long_id = upload_file(server, longer)
        _wait(server, long_id, ("playable", "ready"))
        first["longer_to_playable"] = _since_upload(server, long_id, "playable")
        httpx.delete(f"{server.url}/v1/videos/{long_id}", headers=server.headers)
    return first


def _watch(server: Server, video_id: str, seconds: float) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not Path("/usr/bin/chromium").exists():
        return {"skipped": "node or /usr/bin/chromium is missing"}
    env = {**os.environ, "PAGE_URL": f"{server.url}/videos/{video_id}"}
    env["WATCH_SECONDS"] = f"{seconds:g}"
    done = subprocess.run(
        [node, str(VIEWER)], env=env, capture_output=True, text=True, timeout=seconds * 3 + 300
    )
    if done.returncode != 0:
        raise SystemExit(f"the viewer failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


WHOLE = {"VODSTACK_CHUNK_SINGLE_BELOW_SECONDS": "1e9"}
ONE_TIER = {"VODSTACK_FIRST_TIER_HEIGHT": "0"}
# Chunks no shorter than the longest: the plan one worker gets, whatever the live slots.
COARSE = {"VODSTACK_CHUNK_SHORTEST_SECONDS": "60"}
# A leg's name, the cores of its pinned workers, its settings, and the slots of workers
# enrolled besides them that take nothing (so that the plan is cut for more slots).
LEGS: tuple[tuple[str, list[int], dict[str, str], int], ...] = (
    ("one", [0], {}, 0),
    ("two", [0, 1], {}, 0),
    ("one_tier", [0], ONE_TIER, 0),
    ("unchunked", [0], WHOLE, 0),
    ("two_coarse", [0, 1], COARSE, 0),
    ("one_fine", [0], {}, 3),
)
LEG_NAMES = ",".join(leg[0] for leg in LEGS)
DEFAULT_LEGS = ("one", "two", "one_tier", "unchunked")
# The smoke run's legs: a chunked one (whose parts the scale table models) and the unchunked
# one; the others are the same loop on other cores or settings.
SMOKE_LEGS = ("one", "unchunked")


def measure_workers(
    root: Path, source: Path, env: dict[str, str], legs: tuple[str, ...]
) -> dict[str, Any]:
    """The full ladder with 1 and 2 pinned workers, then on one: in one tier (chunking's
    own cost), and unchunked; only the ``legs`` named."""
    runs: dict[str, Any] = {}
    for name, cores, extra, idle_slots in (leg for leg in LEGS if leg[0] in legs):
        with _stack(root / name, {**env, **extra}) as server:
            pids = [_worker(server, root / name, f"w{c}", core=c) for c in cores]
            if idle_slots:
                _enroll_idle(server, idle_slots)
            before = sum(process_cpu(pid) for pid in pids)
            video_id = upload_file(server, source)
            _wait(server, video_id, ("ready",))
            cpu = sum(process_cpu(pid) for pid in pids) - before
            done = "ready" if name == "unchunked" else "assembled"
            runs[name] = {
                "wall": _since_upload(server, video_id, done),
                "cpu": cpu,
                "parts": len(_parts_of(video_id, server)) - 1,
            }
            if name == "one":
                events = server.get(f"/v1/videos/{video_id}/events")["events"]
                runs["parts"] = part_costs(events)
                runs["stitch_seconds"] = stitch_seconds(_parts_of(video_id, server))
    return runs


def _enroll_idle(server: Server, slots: int) -> None:
    """A worker enrolled as another machine's would be, that never takes a job: the video
    is cut for its slots too, and the pinned workers encode every part."""
    database = server.env["VODSTACK_DATABASE_URL"]
    query(
        database,
        "INSERT INTO workers (name, slots, alive_until) VALUES (%s, %s, now() + interval "
        "'1 day') RETURNING name",
        "idle-worker",
        slots,
    )


def _parts_of(video_id: str, server: Server) -> list[dict[str, Any]]:
    database = server.env["VODSTACK_DATABASE_URL"]
    return query(database, "SELECT part, plan, outputs FROM jobs WHERE video_id = %s", video_id)


def _ratios(report: dict[str, Any]) -> dict[str, float]:
    """Those of the ratios whose legs ran (a smoke run has two of them)."""
    workers = report["workers"]
    ratios = {}
    for leg, name in (("two", "speedup_two_workers"), ("two_coarse", "speedup_coarse_plan")):
        if leg in workers:
            ratios[name] = workers["one"]["wall"] / workers[leg]["wall"]
    for kind in ("cpu", "wall"):
        if "one_tier" in workers and "unchunked" in workers:
            ratios[f"overhead_{kind}"] = workers["one_tier"][kind] / workers["unchunked"][kind] - 1
        if "unchunked" in workers:
            ratios[f"two_tiers_{kind}"] = workers["one"][kind] / workers["unchunked"][kind] - 1
        if "one_fine" in workers:
            ratios[f"finer_parts_{kind}"] = workers["one_fine"][kind] / workers["one"][kind] - 1
    return ratios


def missed_goals(report: dict[str, Any]) -> list[str]:
    playable = report.get("playable", {"viewer": {}})
    ratios = report.get("ratios", {"speedup_two_workers": GOAL_SPEEDUP, "overhead_cpu": 0})
    quality = report.get("quality", {"rungs": {}})
    missed = []
    for name in ("to_playable", "longer_to_playable") if "playable" in report else ():
        if playable[name] > GOAL_PLAYABLE_SECONDS:
            missed.append(f"{name} = {playable[name]:.1f} s > {GOAL_PLAYABLE_SECONDS}")
    if ratios.get("speedup_two_workers", GOAL_SPEEDUP) < GOAL_SPEEDUP:
        missed.append(f"speedup = {ratios['speedup_two_workers']:.2f} < {GOAL_SPEEDUP}")
    if ratios.get("overhead_cpu", 0) > GOAL_OVERHEAD:
        missed.append(f"overhead = {ratios['overhead_cpu']:.1%} > {GOAL_OVERHEAD:.0%}")
    if playable["viewer"].get("stalls", 0):
        missed.append(f"the early viewer stalled {playable['viewer']['stalls']} times")
    for rung, scores in quality["rungs"].items():
        if abs(scores["chunked"] - scores["whole"]) > GOAL_VMAF_DELTA:
            missed.append(f"{rung}: chunked {scores['chunked']:.2f}, whole {scores['whole']:.2f}")
        if scores["worst_boundary_dip"] > GOAL_BOUNDARY_DELTA:
            missed.append(f"{rung}: a boundary segment dips {scores['worst_boundary_dip']:.2f}")
    return missed


def render(report: dict[str, Any]) -> str:
    source = report["source"]
    lines = [
        f"source: {source['file']} ({source['size']}, {source['seconds']:.0f} s); longer: "
        f"{report['longer']['seconds']:.0f} s"
    ]
    if "playable" in report:
        lines += _render_playable(report["playable"])
    if "workers" in report:
        lines += _render_workers(report["workers"], report["ratios"], report["scale"])
    if "quality" in report:
        lines.append(f"quality ({report['quality']['metric']}): whole vs chunked, boundary dip")
        for rung, scores in report["quality"]["rungs"].items():
            lines.append(
                f"  {rung:>6}: {scores['whole']:.2f} vs {scores['chunked']:.2f}, "
                f"{scores['worst_boundary_dip']:+.2f}"
            )
    lines.append("missed goals: " + ("; ".join(report["missed_goals"]) or "none"))
    return "\n".join(lines)


def _render_playable(playable: dict[str, Any]) -> list[str]:
    viewer = playable["viewer"]
    return [
        f"upload complete -> playable: {playable['to_playable']:.1f} s "
        f"(longer source: {playable['longer_to_playable']:.1f} s); -> ready: "
        f"{playable['to_ready']:.1f} s",
        f"early viewer: started {viewer.get('started_after_seconds', 0):.1f} s after the page "
        f"opened, watched {viewer.get('watched_seconds', 0):.0f} s, {viewer.get('stalls')} "
        f"stalls, {viewer.get('stalled_seconds', 0):.1f} s stalled, rungs "
        f"{viewer.get('rungs_listed')}",
    ]


LEG_TITLES = {
    "one": "1 worker",
    "two": "2 workers",
    "one_tier": "1 worker, one tier",
    "unchunked": "1 worker, unchunked",
    "two_coarse": "2 workers, plan of 1",
    "one_fine": "1 worker, plan of 4",
}


def _render_workers(
    workers: dict[str, Any], ratios: dict[str, float], scale: dict[str, Any]
) -> list[str]:
    lines = ["full ladder, pinned:              parts   wall s    CPU s"]
    for leg, title in LEG_TITLES.items():
        if leg in workers:
            run = workers[leg]
            lines.append(
                f"  {title:<30} {run.get('parts', 0):>5} {run['wall']:>8.1f} {run['cpu']:>8.1f}"
            )
    lines += [f"  {name}: {value:.3f}" for name, value in ratios.items()]
    lines.append("workers  ready in  speedup  (from measured part costs)")
    for row in scale["rows"]:
        lines.append(f"  {row['workers']:>5}  {row['ready']:>7.1f} s  {row['speedup']:>6.2f}")
    lines.append(scale["limit"])
    return lines


if __name__ == "__main__":
    main()
