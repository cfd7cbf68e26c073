"""The figures bench/chunks derives: each part's cost from a timeline, the time to ready for
more workers than were measured, the cost of assembling the playlists, and per-segment
quality of a whole and a chunked encode."""

from __future__ import annotations

import heapq
import json
import re
import statistics
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from vodstack.adapters.probe import probe
from vodstack.domain.chunks import PartOutput, VideoPlan, assemble, plan_chunks
from vodstack.domain.ffmpeg_args import INIT_NAME, PLAYLIST_NAME, TranscodeSpec, build_command
from vodstack.domain.grid import SEGMENT_SECONDS
from vodstack.domain.ladder import output_frame_rate, plan_ladder
from vodstack.domain.media import EncoderChoice, Rung
from vodstack.domain.playlist import parse_media_playlist

ENCODER = EncoderChoice("libx264", "libx264 (the benchmark's setting)")
WORKERS = (1, 2, 4, 8, 16, 32, 64)
_ATTEMPT = re.compile(r": attempt \d+ of \d+$")


def part_costs(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Each part's wall time from its claim to its publish, in the order the worker took
    them; the claim latency (a publish to the next claim); and the probe before the split."""

    def at(event: dict[str, Any]) -> float:
        return datetime.fromisoformat(event["at"]).timestamp()

    claimed: dict[str, float] = {}
    parts: list[dict[str, Any]] = []
    gaps: list[float] = []
    last_ready: float | None = None
    for event in events:
        reason = event["reason"] or ""
        if event["kind"] == "claimed" and _ATTEMPT.search(reason) and not reason[0].isdigit():
            name = _ATTEMPT.sub("", reason)
            claimed[name] = at(event)
            if last_ready is not None:
                gaps.append(at(event) - last_ready)
        elif event["kind"] == "ready" and reason.startswith("published "):
            name = reason.removeprefix("published ")
            parts.append({"part": name, "seconds": at(event) - claimed[name]})
            last_ready = at(event)
    split = next(at(e) for e in events if e["kind"] == "split")
    probe_seconds = split - next(at(e) for e in events if e["kind"] == "claimed")
    return {
        "order": parts,
        "claim_seconds": statistics.median(gaps) if gaps else 0.0,
        "probe_seconds": probe_seconds,
    }


def stitch_seconds(rows: list[dict[str, Any]], rounds: int = 20) -> float:
    """What assembling every playlist of the finished video costs once, in this process: the
    play API does it once per change of the video, and each publish does it in its
    transaction."""

    def loaded(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    own = next(r for r in rows if r["part"] == "")
    plan = VideoPlan.from_json(loaded(own["plan"]))
    outputs = [PartOutput.from_json(loaded(r["outputs"])) for r in rows if r["part"]]
    by_key = {o.key: o for o in outputs}
    started = time.perf_counter()
    for _ in range(rounds):
        assemble(plan, by_key)
    return (time.perf_counter() - started) / rounds


def scale_table(parts: dict[str, Any], stitch: float) -> dict[str, Any]:
    """Time to ready with W workers, each as fast as the one measured: every free worker
    claims the next part in claim order (after the measured claim latency), and each
    publish assembles the playlists once."""
    costs = [p["seconds"] for p in parts["order"]]
    claim, probe_seconds = parts["claim_seconds"], parts["probe_seconds"]
    rows = []
    one = _makespan(costs, 1, claim) + probe_seconds + stitch * len(costs)
    for workers in WORKERS:
        ready = _makespan(costs, workers, claim) + probe_seconds + stitch * len(costs)
        rows.append({"workers": workers, "ready": ready, "speedup": one / ready})
    longest = max(costs)
    floor = probe_seconds + claim + longest
    limit = (
        f"stops scaling near {len(costs)} workers: the video has {len(costs)} parts, and past "
        f"that the longest part ({longest:.1f} s) plus the probe ({probe_seconds:.1f} s) is a "
        f"floor of {floor:.1f} s; claims ({claim * 1000:.0f} ms) and assembling "
        f"({stitch * 1000:.2f} ms a publish) are far below it"
    )
    return {"rows": rows, "limit": limit, "floor": floor}


def _makespan(costs: list[float], workers: int, claim: float) -> float:
    free = [0.0] * workers
    heapq.heapify(free)
    end = 0.0
    for cost in costs:
        start = heapq.heappop(free) + claim
        end = max(end, start + cost)
        heapq.heappush(free, start + cost)
    return end


def segment_scores(ffmpeg: str, film: Path, root: Path, metric: str) -> dict[str, Any]:
    """The film's ladder encoded whole and in chunks; per rung, the score over the whole
    video both ways and the worst dip at a chunk's first segment."""
    root.mkdir(parents=True, exist_ok=True)
    info = probe(film)
    rungs = plan_ladder(info)
    rate = output_frame_rate(info)
    chunks = plan_chunks(info.duration, first=SEGMENT_SECONDS, longest=10 * SEGMENT_SECONDS)
    _encode(ffmpeg, film, root / "whole", TranscodeSpec(info, rungs, rate, ENCODER))
    for chunk in chunks:
        spec = TranscodeSpec(info, rungs, rate, ENCODER, chunk=chunk)
        _encode(ffmpeg, film, root / f"c{chunk.index}", spec)
    boundaries = [c.first_segment for c in chunks[1:]]
    result = {}
    for rung in rungs:
        whole = _joined(root / "whole" / rung.name, root / f"{rung.name}_whole.mp4")
        folders = [root / f"c{c.index}" / rung.name for c in chunks]
        chunked = _joined_chunks(folders, root / f"{rung.name}_chunked.mp4")
        scores = {
            name: _per_segment(ffmpeg, metric, path, film, rung, rate, root / f"{rung.name}_{name}")
            for name, path in (("whole", whole), ("chunked", chunked))
        }
        result[rung.name] = _compare(scores, boundaries)
    return {"metric": metric, "chunks": [[c.start, c.end] for c in chunks], "rungs": result}


def _compare(scores: dict[str, list[float]], boundaries: list[int]) -> dict[str, Any]:
    """The dip at a boundary: how far below its neighbours the boundary segment scores in
    the chunked encode, less the same in the whole one (content alone moves scores from
    one segment to the next, in both encodes alike)."""
    whole, chunked = scores["whole"], scores["chunked"]

    def dip(series: list[float], at: int) -> float:
        neighbours = [series[i] for i in (at - 1, at + 1) if 0 <= i < len(series)]
        return statistics.mean(neighbours) - series[at]

    inside = [b for b in boundaries if b < min(len(whole), len(chunked))]
    return {
        "whole": statistics.mean(whole),
        "chunked": statistics.mean(chunked),
        "boundary_segments": inside,
        "boundary_vs_neighbours": [dip(chunked, b) for b in inside],
        "worst_boundary_dip": max((dip(chunked, b) - dip(whole, b) for b in inside), default=0),
        "worst_boundary_vs_whole": max((whole[b] - chunked[b] for b in inside), default=0),
    }


def _encode(ffmpeg: str, film: Path, out: Path, spec: TranscodeSpec) -> None:
    for rung in spec.rungs:
        (out / rung.name).mkdir(parents=True, exist_ok=True)
    command = build_command(ffmpeg, film, out, spec)
    subprocess.run(command, check=True, capture_output=True)


def _joined(folder: Path, target: Path) -> Path:
    return _joined_chunks([folder], target)


def _joined_chunks(folders: list[Path], target: Path) -> Path:
    """The rung as a player gets it: the first chunk's init segment, then every segment."""
    with target.open("wb") as out:
        out.write((folders[0] / INIT_NAME).read_bytes())
        for folder in folders:
            playlist = parse_media_playlist((folder / PLAYLIST_NAME).read_text())
            for segment in playlist.segments:
                out.write((folder / segment.uri).read_bytes())
    return target


def _per_segment(
    ffmpeg: str, metric: str, encoded: Path, film: Path, rung: Rung, rate: Any, log: Path
) -> list[float]:
    """The mean per-frame score of each 6 s segment, against the film put through the same
    frame rate and scaling as the encoder's input."""
    fps = f"{rate.numerator}/{rate.denominator}"
    reference = f"fps={fps},scale=w={rung.width}:h={rung.height}:out_range=tv,format=yuv420p"
    if metric == "vmaf":
        compare = f"libvmaf=n_threads=2:log_fmt=json:log_path={log}.json"
    else:
        compare = f"psnr=stats_file={log}.txt"
    graph = (
        f"[0:v]setpts=PTS-STARTPTS,format=yuv420p[encoded];"
        f"[1:v]{reference},setpts=PTS-STARTPTS[reference];[encoded][reference]{compare}"
    )
    command = [ffmpeg, "-hide_banner", "-nostdin", "-i", str(encoded), "-i", str(film)]
    subprocess.run([*command, "-lavfi", graph, "-f", "null", "-"], check=True, capture_output=True)
    frames = _frame_scores(metric, log)
    per_segment = round(SEGMENT_SECONDS * rate)
    return [
        statistics.mean(frames[i : i + per_segment]) for i in range(0, len(frames), per_segment)
    ]


def _frame_scores(metric: str, log: Path) -> list[float]:
    if metric == "vmaf":
        data = json.loads(Path(f"{log}.json").read_text())
        return [float(frame["metrics"]["vmaf"]) for frame in data["frames"]]
    scores = []
    for line in Path(f"{log}.txt").read_text().splitlines():
        value = re.search(r"psnr_avg:([\d.]+|inf)", line)
        if value:
            scores.append(100.0 if value.group(1) == "inf" else min(100.0, float(value.group(1))))
    return scores
