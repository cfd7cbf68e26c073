"""Chunked encoding on real ffmpeg: a source cut into chunks on whole segments, each chunk
encoded by its own ffmpeg, stitches into one rung playlist that plays as the unchunked
encode does. Every chunk writes the same init segment; decode and presentation times run on
from chunk to chunk with no gap and no overlap; every frame is there once; and keyframes
stay on the 2 s grid across the boundaries."""

from __future__ import annotations

import io
import itertools
import subprocess
from pathlib import Path

import av
import imageio_ffmpeg

from tests.conftest import media
from tests.support.hls import timestamps
from vodstack.adapters.ffmpeg import read_rung_output
from vodstack.adapters.probe import probe
from vodstack.domain.chunks import plan_chunks, stitch
from vodstack.domain.ffmpeg_args import INIT_NAME, PLAYLIST_NAME, TranscodeSpec, build_command
from vodstack.domain.grid import KEYFRAME_SECONDS
from vodstack.domain.ladder import output_frame_rate, plan_ladder
from vodstack.domain.media import EncoderChoice
from vodstack.domain.playlist import parse_media_playlist

CLIP = "mdn_tears_of_steel_800x332_vp8_70s.webm"
SECONDS = 18.0  # chunks of 6 and 12 s: three segments, one boundary inside
LIBX264 = EncoderChoice("libx264", "the test's setting")


def _encode(source: Path, out: Path, spec: TranscodeSpec) -> None:
    for rung in spec.rungs:
        (out / rung.name).mkdir(parents=True)  # ffmpeg's HLS muxer makes no folders
    command = build_command(imageio_ffmpeg.get_ffmpeg_exe(), source, out, spec)
    subprocess.run(command, check=True, timeout=120, capture_output=True)


def _check_first_frames(out: Path, rung: str) -> None:
    """What the chunk publishes for its rung's I-frame playlist: for every segment, a byte
    range from its moof that decodes, after the init segment, to one key frame."""
    output = read_rung_output(out, rung)
    assert output is not None
    init = (out / rung / INIT_NAME).read_bytes()
    assert len(output.iframes) == len(output.segments)
    for (name, _, _), (offset, length) in zip(output.segments, output.iframes, strict=True):
        piece = (out / rung / name).read_bytes()[offset : offset + length]
        assert piece[4:8] == b"moof"
        with av.open(io.BytesIO(init + piece), mode="r") as container:
            assert [frame.key_frame for frame in container.decode(video=0)] == [True]


def test_chunks_encoded_apart_stitch_into_one_continuous_rung(tmp_path: Path) -> None:
    source = media(CLIP)
    info = probe(source)
    rung = plan_ladder(info)[-1]
    frame_rate = output_frame_rate(info)
    chunks = plan_chunks(SECONDS, first=6, longest=12)
    assert len(chunks) == 2
    folders = []
    for chunk in chunks:
        folder = tmp_path / f"chunk{chunk.index}"
        _encode(source, folder, TranscodeSpec(info, [rung], frame_rate, LIBX264, chunk=chunk))
        folders.append(folder / rung.name)
        _check_first_frames(folder, rung.name)

    inits = {(folder / INIT_NAME).read_bytes() for folder in folders}
    assert len(inits) == 1, "every chunk must write the same init segment"
    parts = [parse_media_playlist((f / PLAYLIST_NAME).read_text()) for f in folders]
    stitched = stitch(parts, complete=True)
    assert [s.uri for s in stitched.segments] == [f"seg_{n:05d}.m4s" for n in range(3)]
    where = {
        s.uri: folder for folder, part in zip(folders, parts, strict=True) for s in part.segments
    }
    stream = inits.pop() + b"".join((where[s.uri] / s.uri).read_bytes() for s in stitched.segments)

    found = timestamps(stream)
    dts, pts, keyframes, time_base = found.dts, found.pts, found.keyframes, found.time_base
    frame = round(1 / (frame_rate * time_base))
    assert len(pts) == round(SECONDS * frame_rate)  # every frame, once
    assert all(b - a == frame for a, b in itertools.pairwise(dts)), "decode times must run on"
    assert all(b - a == frame for a, b in itertools.pairwise(pts)), "no gap or overlap on screen"
    grid = round(KEYFRAME_SECONDS / time_base)
    assert [k - pts[0] for k in keyframes] == [n * grid for n in range(len(keyframes))]
    assert len(keyframes) == SECONDS / KEYFRAME_SECONDS

    whole = tmp_path / "whole"
    _encode(source, whole, TranscodeSpec(info, [rung], frame_rate, LIBX264, max_seconds=SECONDS))
    unchunked = parse_media_playlist((whole / rung.name / PLAYLIST_NAME).read_text())
    assert [round(s.duration, 3) for s in unchunked.segments] == [
        round(s.duration, 3) for s in stitched.segments
    ]
