"""Probe and transcode every file in the shared test media with the real transcoder.

    .venv/bin/python scripts/transcode_all_media.py [--media DIR] [--encoder ENCODER]
        [--parts N]

With ``--parts N``, a source the worker would split (see ``ChunkPolicy``) is encoded as its
first N parts in claim order, each with the command its worker would run, instead of whole.

Prints one line per file: name, ready or failed, the rungs or the reason, and the wall time.
Outputs go to a temporary folder that is removed as the run goes. Long sources are encoded
in full, so this takes a while on a small machine; it is a manual check, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from vodstack import errors
from vodstack.adapters.ffmpeg import FfmpegTranscoder, default_ffmpeg
from vodstack.domain.chunks import VideoPlan
from vodstack.domain.media import TranscodeResult
from vodstack.services.processing import ChunkPolicy
from vodstack.settings import Settings

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


async def run(sources: list[Path], encoder: str, parts: int = 0) -> int:
    settings = Settings(_env_file=None)
    transcoder = FfmpegTranscoder(default_ffmpeg(settings), encoder)
    print(f"encoder: {(await transcoder.capabilities()).encoder.reason}", flush=True)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="vodstack-media-") as scratch:
        for path in sources:
            out = Path(scratch) / path.stem
            started = time.perf_counter()
            try:
                info = await transcoder.probe(path)
                plan = ChunkPolicy().plan(info) if parts else None
                if plan is not None:
                    detail = await _encode_parts(transcoder, path, plan, out, parts)
                    print(
                        f"{path.name:46} {'ready':6} {time.perf_counter() - started:7.1f}s  "
                        f"{detail}",
                        flush=True,
                    )
                    shutil.rmtree(out, ignore_errors=True)
                    continue
                result = await transcoder.transcode(path, info, out, lambda _: None)
            except (errors.InvalidMedia, errors.TranscodeFailed) as exc:
                failed += 1
                status, detail = "failed", f"{type(exc).__name__}: {exc.message}"
            else:
                status, detail = "ready", _describe(result)
            wall = time.perf_counter() - started
            print(f"{path.name:46} {status:6} {wall:7.1f}s  {detail}", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    return failed


async def _encode_parts(
    transcoder: FfmpegTranscoder, path: Path, plan: VideoPlan, out: Path, count: int
) -> str:
    done = []
    for part in sorted(plan.parts, key=lambda p: p.rank)[:count]:
        result = await transcoder.transcode_part(path, plan, part, out / part.key, lambda _: None)
        seconds = sum(s[1] for s in result.rungs[0].segments)
        done.append(f"{part.key}: {seconds:.1f}s {'+'.join(r.codecs for r in result.rungs)}")
    return f"split into {len(plan.parts)} parts; " + ", ".join(done)


def _describe(result: TranscodeResult) -> str:
    rungs = " ".join(
        f"{r.name}={r.width}x{r.height}@{r.frame_rate:.3f}/{r.bandwidth // 1000}k[{r.codecs}]"
        for r in result.renditions
    )
    return f"{result.duration:.2f}s {rungs}"


def main() -> None:
    parser = argparse.ArgumentParser(description="Transcode every file in the test media.")
    parser.add_argument("--media", type=Path, default=MEDIA)
    parser.add_argument("--encoder", default="auto", choices=["auto", "libx264", "h264_nvenc"])
    parser.add_argument("--parts", type=int, default=0, help="split sources: first N parts")
    args = parser.parse_args()
    # Not an exit status: the corrupt and audio-only samples are meant to fail.
    sources = sorted(p for p in args.media.iterdir() if p.is_file() and p.suffix != ".md")
    failed = asyncio.run(run(sources, args.encoder, args.parts))
    print(f"{failed} file(s) not transcoded", flush=True)


if __name__ == "__main__":
    main()
