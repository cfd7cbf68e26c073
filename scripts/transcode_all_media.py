"""Probe and transcode every file in the shared test media with the real transcoder.

    .venv/bin/python scripts/transcode_all_media.py [--media DIR] [--encoder ENCODER]

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
from vodstack.domain.media import TranscodeResult
from vodstack.settings import Settings

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"


async def run(sources: list[Path], encoder: str) -> int:
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
    args = parser.parse_args()
    # Not an exit status: the corrupt and audio-only samples are meant to fail.
    sources = sorted(p for p in args.media.iterdir() if p.is_file() and p.suffix != ".md")
    failed = asyncio.run(run(sources, args.encoder))
    print(f"{failed} file(s) not transcoded", flush=True)


if __name__ == "__main__":
    main()
