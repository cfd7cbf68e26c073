"""Trick play and the MP4 download on a real encode: every I-frame playlist entry is a byte
range that, after the rung's init segment, decodes to exactly one key frame; the playlists
keep Apple's authoring rules; the MP4 is the top rung with its sound, copied whole."""

from __future__ import annotations

import asyncio
import io
import shutil
import struct
import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import pytest

from tests.support.hls import attributes, iframe_playlist_problems
from vodstack.adapters.ffmpeg import FfmpegTranscoder, read_rung_output
from vodstack.domain.media import TranscodeResult

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SECONDS = 13  # segments of 6, 6 and 1 s


def make_clip(path: Path, seconds: float, size: str = "640x360") -> Path:
    """A test pattern with a tone: two rungs (360p, 240p) and sound."""
    lavfi = [
        *("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"),
    ]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *lavfi, *codecs, str(path)]
    subprocess.run(command, check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TranscodeResult]:
    """One encode for the module's tests: it is what takes the time."""
    folder = tmp_path_factory.mktemp("iframes")
    source = make_clip(folder / "clip.mp4", SECONDS)
    transcoder = FfmpegTranscoder(FFMPEG, "libx264", stall_timeout=60, mp4_rendition=True)

    async def encode() -> TranscodeResult:
        info = await transcoder.probe(source)
        return await transcoder.transcode(source, info, folder / "out", lambda _: None)

    return folder / "out", asyncio.run(encode())


def iframe_entries(text: str) -> list[tuple[str, int, int]]:
    """``(uri, offset, length)`` of each entry of an I-frame playlist."""
    entries, byterange = [], ""
    for line in text.splitlines():
        if line.startswith("#EXT-X-BYTERANGE:"):
            byterange = line.partition(":")[2]
        elif line and not line.startswith("#"):
            length, _, offset = byterange.partition("@")
            entries.append((line, int(offset), int(length)))
    return entries


def key_frames(init: bytes, piece: bytes) -> list[bool]:
    """Whether each frame the init segment and ``piece`` decode to is a key frame."""
    with av.open(io.BytesIO(init + piece), mode="r") as container:
        return [frame.key_frame for frame in container.decode(video=0)]


def test_every_i_frame_range_decodes_to_one_key_frame(
    encoded: tuple[Path, TranscodeResult],
) -> None:
    out, result = encoded
    master = (out / "master.m3u8").read_text()
    streams = [attributes(line) for line in master.splitlines() if "I-FRAME-STREAM-INF" in line]
    assert [s["URI"] for s in streams] == ["360p/iframes.m3u8", "240p/iframes.m3u8"]
    texts = {s["URI"]: (out / s["URI"]).read_text() for s in streams}
    assert iframe_playlist_problems(master, texts) == []
    for stream in streams:
        folder = out / stream["URI"].split("/")[0]
        entries = iframe_entries(texts[stream["URI"]])
        assert len(entries) == 3  # one I-frame a segment
        init = (folder / "init.mp4").read_bytes()
        for uri, offset, length in entries:
            segment = (folder / uri).read_bytes()
            piece = segment[offset : offset + length]
            assert piece[4:8] == b"moof"
            assert len(piece) == length < len(segment)
            assert key_frames(init, piece) == [True]
        rendition = next(r for r in result.renditions if stream["URI"].startswith(r.name))
        assert stream["CODECS"] == rendition.codecs.removesuffix(",mp4a.40.2")
        assert stream["RESOLUTION"] == f"{rendition.width}x{rendition.height}"
    assert {f"{r.name}/iframes.m3u8" for r in result.renditions} <= {
        p.as_posix() for p in result.files
    }


def test_a_chunk_part_records_its_first_frames(
    encoded: tuple[Path, TranscodeResult],
) -> None:
    """What a chunk's worker publishes for assembly: the same byte ranges."""
    out, _ = encoded
    output = read_rung_output(out, "240p")
    assert output is not None
    entries = iframe_entries((out / "240p" / "iframes.m3u8").read_text())
    assert output.iframes == tuple((offset, length) for _, offset, length in entries)


def test_the_mp4_is_the_top_rung_with_its_sound(
    encoded: tuple[Path, TranscodeResult],
) -> None:
    out, result = encoded
    assert "download.mp4" in {p.as_posix() for p in result.files}
    data = (out / "download.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "moov first: it plays as it downloads"
    with av.open(io.BytesIO(data), mode="r") as container:
        assert len(container.streams.audio) == 1
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (640, 360)
        assert container.duration is not None
        assert container.duration / 1e6 == pytest.approx(result.duration, abs=0.1)
        frames = sum(1 for _ in container.demux(video))
    assert frames == SECONDS * 30 + 1  # every frame, nothing encoded again or dropped


def test_a_segment_whose_first_frame_cannot_be_found_costs_only_trick_play(
    encoded: tuple[Path, TranscodeResult], tmp_path: Path
) -> None:
    """A first sample marked as not a sync sample: the rung is still published, with its
    segments, and no I-frame playlist."""
    out, _ = encoded
    copy = tmp_path / "240p"
    shutil.copytree(out / "240p", copy)
    segment = bytearray((copy / "seg_00001.m4s").read_bytes())
    trun = segment.index(b"trun") + 4  # the first track fragment's run: the video's
    flags = struct.unpack_from(">I", segment, trun)[0] & 0xFFFFFF
    assert flags == 0xE01  # data offset, then each sample's size, flags and time offset
    struct.pack_into(">I", segment, trun + 16, 0x01010000)  # depends on others, not sync
    (copy / "seg_00001.m4s").write_bytes(bytes(segment))
    output = read_rung_output(tmp_path, "240p")
    assert output is not None
    assert len(output.segments) == 3
    assert output.iframes == ()
