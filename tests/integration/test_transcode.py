"""The real pipeline on real files from ../shared/media: PyAV probes, the pinned ffmpeg
encodes, and the OUTPUT is checked with PyAV and the playlists. Short clips only (CI has two
cores); the one long clip is cut with ``max_seconds``."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import shutil
import stat
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import pytest
from av.video.frame import VideoFrame

from tests.conftest import media
from vodstack import errors
from vodstack.adapters.ffmpeg import FfmpegTranscoder, default_ffmpeg
from vodstack.adapters.probe import probe
from vodstack.domain.ladder import RateControl
from vodstack.domain.media import Rendition, TranscodeResult
from vodstack.domain.playlist import parse_media_playlist
from vodstack.ports import Transcoder
from vodstack.settings import Settings

FFMPEG = str(imageio_ffmpeg.get_ffmpeg_exe())
LANDSCAPE = [("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 854, 480), ("240p", 426, 240)]
PORTRAIT = [(name, h, w) for name, w, h in LANDSCAPE]


@dataclass(frozen=True)
class Case:
    file: str
    rungs: list[tuple[str, int, int]]
    audio: bool
    frame_rate: float
    max_seconds: float | None = None
    # Whether its pictures have enough contrast to tell which way up they are (the Pixel 7
    # clip is nearly black).
    visible: bool = True


CASES = [
    pytest.param(Case("axm_720p_h264_rot270.mp4", PORTRAIT[1:], True, 29.97), id="rot270"),
    pytest.param(
        Case("axm_portrait_4k60_h264_rot90_0.3s.mp4", PORTRAIT, True, 60.0), id="4k60-rot90"
    ),
    pytest.param(
        Case("axm_bear_vp9_odd_161x121.webm", [("120p", 160, 120)], False, 29.97), id="odd"
    ),
    pytest.param(
        Case("moviepy_fire2_720p_vfr_rot180.mp4", LANDSCAPE[1:], True, 10.0), id="vfr-rot180"
    ),
    pytest.param(
        Case("axm_pixel7_1080p_vfr_noaudio_rot180.mp4", LANDSCAPE, False, 29.97, visible=False),
        id="vfr-noaudio",
    ),
    pytest.param(Case("axm_bbb_1080p60_vp8_vorbis51.webm", LANDSCAPE, True, 60.0), id="60fps-5.1"),
    pytest.param(Case("axm_hdr10_1080p_hevc_main10.mp4", LANDSCAPE, True, 30.0), id="hdr10"),
    pytest.param(
        Case(
            "interlaced_480i_tff_mpeg2_ac3.mkv",
            [("480p", 854, 480), ("240p", 426, 240)],
            True,
            29.97,
        ),
        id="interlaced",
    ),
    pytest.param(
        Case(
            "axm_bbb_800x640_anamorphic_h264.mp4",
            [("640p", 1138, 640), ("480p", 854, 480), ("240p", 426, 240)],
            False,
            30.0,
        ),
        id="anamorphic",
    ),
    pytest.param(
        Case(
            "mdn_tears_of_steel_800x332_vp8_70s.webm",
            [("332p", 798, 332), ("240p", 576, 240)],
            True,
            24.0,
            max_seconds=8.0,
        ),
        id="film-332p-cut",
    ),
]


@pytest.fixture
def transcoder() -> FfmpegTranscoder:
    return FfmpegTranscoder(FFMPEG, encoder="libx264", stall_timeout=60)


@pytest.mark.parametrize("case", CASES)
async def test_transcode(case: Case, transcoder: FfmpegTranscoder, tmp_path: Path) -> None:
    source = media(case.file)
    info = await transcoder.probe(source)
    progress: list[float] = []
    out = tmp_path / "out"
    result = await transcoder.transcode(
        source, info, out, progress.append, max_seconds=case.max_seconds
    )
    assert [(r.name, r.width, r.height) for r in result.renditions] == case.rungs
    assert progress[-1] == 1.0
    assert progress == sorted(progress)
    check_files(out, result)
    check_master(out, result, case)
    keyframes = {}
    for rendition in result.renditions:
        joined = join_segments(out, rendition, tmp_path / f"{rendition.name}.mp4")
        keyframes[rendition.name] = check_rendition(joined, out, rendition, case)
    # Segment boundaries line up across rungs: the same keyframes everywhere.
    assert len({tuple(k) for k in keyframes.values()}) == 1
    smallest = tmp_path / f"{result.renditions[-1].name}.mp4"
    if info.rotation and case.visible:
        check_upright(source, smallest, info.rotation)
    if info.interlaced:
        assert combing(first_frame(source, skip=30)) > 5  # the check can see interlacing
        assert combing(first_frame(smallest, skip=30)) < 2
    if info.color_transfer == "smpte2084":
        with av.open(str(smallest)) as container:
            context = container.streams.video[0].codec_context
            assert (context.color_trc, context.color_primaries) == (1, 1)  # BT.709 SDR


def check_files(out: Path, result: TranscodeResult) -> None:
    listed = {p.as_posix() for p in result.files}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert listed == on_disk
    assert "master.m3u8" in listed
    for rendition in result.renditions:
        assert {f"{rendition.name}/index.m3u8", f"{rendition.name}/init.mp4"} <= listed
        assert f"{rendition.name}/seg_00000.m4s" in listed
    # A storyboard from the lowest rung, whatever the source was, and a cover chosen from it.
    assert {"storyboard/storyboard.vtt", "storyboard/sheet_000.jpg"} <= listed
    assert result.cover_time is not None
    assert 0 <= result.cover_time < result.duration
    assert result.command[0] == FFMPEG
    assert result.encoder.name == "libx264"


def check_master(out: Path, result: TranscodeResult, case: Case) -> None:
    lines = (out / "master.m3u8").read_text().splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    uris = [line for line in lines if line and not line.startswith("#")]
    names = [r.name for r in result.renditions]
    middle = names[(len(names) - 1) // 2]
    assert uris == [f"{middle}/index.m3u8"] + [f"{n}/index.m3u8" for n in names if n != middle]
    for rendition in result.renditions:
        assert rendition.codecs.startswith("avc1.64")  # High profile
        assert rendition.codecs.endswith(",mp4a.40.2") == case.audio
        assert rendition.bandwidth >= rendition.average_bandwidth > 0
        assert rendition.frame_rate == pytest.approx(case.frame_rate, rel=1e-3)


def join_segments(out: Path, rendition: Rendition, joined: Path) -> Path:
    """init.mp4 followed by every segment is one fragmented MP4 that PyAV can read."""
    folder = (out / rendition.playlist).parent
    playlist = parse_media_playlist((out / rendition.playlist).read_text())
    assert playlist.map_uri == "init.mp4"
    with joined.open("wb") as target:
        for name in [playlist.map_uri, *(s.uri for s in playlist.segments)]:
            with (folder / name).open("rb") as part:
                shutil.copyfileobj(part, target)
    return joined


def check_rendition(joined: Path, out: Path, rendition: Rendition, case: Case) -> list[float]:
    """Checks one rung's output; returns its keyframe times (ms precision)."""
    playlist = parse_media_playlist((out / rendition.playlist).read_text())
    assert all(s.duration <= 6.5 for s in playlist.segments)
    with av.open(str(joined)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (
            rendition.width,
            rendition.height,
        )
        assert video.sample_aspect_ratio in (None, Fraction(1))  # square pixels
        assert len(container.streams.audio) == (1 if case.audio else 0)
        for audio in container.streams.audio:
            assert (audio.codec_context.channels, audio.codec_context.sample_rate) == (2, 48_000)
        times, keyframes = [], []
        for packet in container.demux(video):
            if packet.pts is not None and packet.time_base is not None:
                times.append(float(packet.pts * packet.time_base))
                if packet.is_keyframe:
                    keyframes.append(round(times[-1], 3))
    frame = first_frame(joined)
    # 8-bit 4:2:0, no rotation left to apply, and not full range (phone clips often are):
    # H.264 without a range flag (0, unspecified) is limited range.
    assert (frame.format.name, frame.rotation) == ("yuv420p", 0)
    assert frame.color_range in (0, 1)
    times.sort()
    intervals = [b - a for a, b in itertools.pairwise(times)]
    assert max(intervals) - min(intervals) < 0.0015  # constant frame rate
    assert 1 / (sum(intervals) / len(intervals)) == pytest.approx(case.frame_rate, rel=5e-3)
    # Keyframes on the 2 s grid (to the nearest frame), and every segment starts on one.
    assert len(keyframes) == math.floor((times[-1] - times[0]) / 2 + 1e-6) + 1
    frame_time = 1.01 / case.frame_rate
    assert all(abs(b - a - 2) <= frame_time for a, b in itertools.pairwise(keyframes))
    starts = [
        keyframes[0] + sum(s.duration for s in playlist.segments[:i])
        for i in range(len(playlist.segments))
    ]
    assert all(min(abs(s - k) for k in keyframes) < 0.002 for s in starts)
    return keyframes


def first_frame(path: Path, skip: int = 0) -> VideoFrame:
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= skip:
                return frame
    raise AssertionError(f"{path} has fewer than {skip + 1} frames")


def luma_grid(frame: VideoFrame, size: int = 8) -> list[list[int]]:
    small = frame.reformat(width=size, height=size, format="gray", interpolation="AREA")
    plane = small.planes[0]
    data = bytes(plane)
    return [list(data[y * plane.line_size : y * plane.line_size + size]) for y in range(size)]


def rotate_clockwise(grid: list[list[int]], quarter_turns: int) -> list[list[int]]:
    for _ in range(quarter_turns % 4):
        grid = [list(row) for row in zip(*grid[::-1], strict=True)]
    return grid


def check_upright(source: Path, output: Path, rotation: int) -> None:
    """The output's first picture looks like the source's turned by ``rotation`` clockwise,
    and clearly less like any other turn of it. Correlation, not difference, so that a
    full-range source and its limited-range output compare equal."""
    expected = luma_grid(first_frame(source))
    seen = [v for row in luma_grid(first_frame(output)) for v in row]
    scores = [
        correlation([v for row in rotate_clockwise(expected, turns) for v in row], seen)
        for turns in range(4)
    ]
    right = scores.pop(rotation // 90)
    assert right > 0.9, scores
    assert right > max(scores) + 0.1, (right, scores)


def correlation(a: list[int], b: list[int]) -> float:
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True))
    var_a = sum((x - mean_a) ** 2 for x in a)
    var_b = sum((y - mean_b) ** 2 for y in b)
    return cov / math.sqrt(var_a * var_b)


def combing(frame: VideoFrame) -> float:
    """Energy in alternate lines against energy between lines two apart: about 1 for a
    progressive picture, far above it for interlaced motion left as it is."""
    gray = frame.reformat(format="gray")
    plane = gray.planes[0]
    data, stride, width = bytes(plane), plane.line_size, gray.width
    rows = [data[y * stride : y * stride + width] for y in range(gray.height)]
    alternate = between = 0
    for y in range(2, gray.height - 2, 2):
        above, row, below, next_pair = rows[y - 1], rows[y], rows[y + 1], rows[y + 2]
        for x in range(0, width, 2):
            alternate += abs(2 * row[x] - above[x] - below[x])
            between += abs(row[x] - next_pair[x])
    return alternate / max(between, 1)


# --- probe -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "axm_CORRUPT_invalid_nalu.mp4",
            r"cannot be decoded: invalid bitstream at 0\.9\d s \(h264\)",
        ),
        ("axm_CORRUPT_malformed_free_box_no_moov.mp4", "truncated or damaged: moov atom not found"),
        (
            "axm_CORRUPT_vp9_invalid_bitstream.webm",
            r"cannot be decoded: invalid bitstream .*\(vp9\)",
        ),
        ("axm_audio_only_aac.mp4", r"no video stream \(the file has only audio\)"),
        ("axm_audio_only_aac_8k_mono.m4a", r"no video stream \(the file has only audio\)"),
        ("SOURCES.md", "not a video file"),
    ],
)
def test_probe_rejects_unusable_input(name: str, reason: str) -> None:
    with pytest.raises(errors.InvalidMedia, match=reason):
        probe(media(name))


def test_probe_rejects_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(errors.InvalidMedia, match="empty"):
        probe(tmp_path / "empty.mp4")


def test_probe_rejects_a_truncated_mp4(tmp_path: Path) -> None:
    # The moov box of this file sits at its end: cut the end off, as an interrupted copy would.
    truncated = tmp_path / "cut.mp4"
    with media("axm_720p_h264_rot270.mp4").open("rb") as whole, truncated.open("wb") as part:
        part.write(whole.read(1_000_000))
    with pytest.raises(errors.InvalidMedia, match="moov atom not found"):
        probe(truncated)


def test_probe_estimates_a_duration_missing_from_the_header() -> None:
    info = probe(media("moviepy_no_duration_vp9_opus.webm"))
    assert info.duration == pytest.approx(4.94, abs=0.1)
    assert (info.video_codec, info.audio_codec) == ("vp9", "opus")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "axm_720p_h264_rot270.mp4",
            {"rotation": 270, "display_width": 720, "display_height": 1280},
        ),
        (
            "axm_portrait_4k60_h264_rot90_0.3s.mp4",
            {"rotation": 90, "display_width": 2160, "frame_rate": 60.0},
        ),
        (
            "moviepy_fire2_720p_vfr_rot180.mp4",
            {"rotation": 180, "variable_frame_rate": True, "audio_channels": 1},
        ),
        (
            "axm_bbb_800x640_anamorphic_h264.mp4",
            {"sample_aspect_ratio": (64, 45), "display_width": 1138, "has_audio": False},
        ),
        (
            "interlaced_480i_tff_mpeg2_ac3.mkv",
            {"interlaced": True, "field_order": "tt", "frame_rate": pytest.approx(29.97, abs=1e-3)},
        ),
        ("interlaced_480i_bff_mpeg2_ac3.ts", {"interlaced": True, "field_order": "bb"}),
        (
            "axm_hdr10_1080p_hevc_main10.mp4",
            {"bit_depth": 10, "color_transfer": "smpte2084", "video_codec": "hevc"},
        ),
        (
            "axm_vp9_profile2_10bit.webm",
            {"bit_depth": 10, "color_transfer": "unspecified", "interlaced": False},
        ),
        (
            "axm_sample_h264_ac3.mkv",
            {"variable_frame_rate": False, "frame_rate": pytest.approx(30, rel=2e-3)},
        ),
        (
            "axm_bbb_1080p60_vp8_vorbis51.webm",
            {"frame_rate": 60.0, "audio_channels": 6, "audio_codec": "vorbis"},
        ),
        (
            "axm_long_4k60_av1_6min.mp4",
            {"video_codec": "av1", "duration": pytest.approx(362.77, abs=0.01)},
        ),
    ],
)
def test_probe_describes_the_source(name: str, expected: dict[str, object]) -> None:
    info = probe(media(name))
    assert {key: getattr(info, key) for key in expected} == expected


# --- encoder choice, failures, stalls and cancellation -----------------------------------


async def test_auto_uses_nvenc_only_when_its_trial_works() -> None:
    first = await FfmpegTranscoder(FFMPEG, encoder="auto").capabilities()
    again = await FfmpegTranscoder(FFMPEG, encoder="auto").capabilities()
    assert again is first  # chosen once per process
    assert first.can_tonemap
    if first.encoder.name == "libx264":
        assert first.encoder.reason.startswith("h264_nvenc trial failed: ")
        assert first.encoder.reason.endswith("; using libx264")
        with pytest.raises(errors.TranscodeFailed, match="h264_nvenc"):
            await FfmpegTranscoder(FFMPEG, encoder="h264_nvenc").capabilities()
    else:
        assert first.encoder.name == "h264_nvenc"


async def test_nvenc_ladder_when_there_is_a_gpu(tmp_path: Path) -> None:
    transcoder = FfmpegTranscoder(FFMPEG, encoder="auto")
    if (await transcoder.capabilities()).encoder.name != "h264_nvenc":
        pytest.skip("no NVENC on this machine")
    source = media("axm_720p_h264_rot270.mp4")
    result = await transcoder.transcode(source, probe(source), tmp_path, lambda _: None)
    assert [r.name for r in result.renditions] == ["720p", "480p", "240p"]
    assert all(r.codecs.startswith("avc1.") for r in result.renditions)


async def test_ffmpeg_errors_become_transcode_failed(
    transcoder: FfmpegTranscoder, tmp_path: Path
) -> None:
    source = media("axm_bear_vp9_odd_161x121.webm")
    lying = replace(probe(source), has_audio=True)  # ffmpeg finds no audio to map
    port: Transcoder = transcoder
    with pytest.raises(errors.TranscodeFailed, match=r"exited with \d+: .*matches no streams"):
        await port.transcode(source, lying, tmp_path, lambda _: None)


# A fake ffmpeg stands for the encode alone: the fixed ladder needs no analysis run first.
FIXED = RateControl.FIXED


def fake_ffmpeg(tmp_path: Path, body: str) -> str:
    """A stand-in for ffmpeg that prints one progress report, then does ``body``."""
    script = tmp_path / "ffmpeg"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *-filters*|*-version*) exit 0;; esac\n'
        f"echo $$ > {tmp_path / 'pid'}\n"
        "printf 'out_time_us=1000000\\nprogress=continue\\n'\n"
        f"{body}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_a_stalled_ffmpeg_is_killed(tmp_path: Path) -> None:
    transcoder = FfmpegTranscoder(
        fake_ffmpeg(tmp_path, "exec sleep 60"), "libx264", stall_timeout=0.5, rate_control=FIXED
    )
    source = media("axm_bear_vp9_odd_161x121.webm")
    progress: list[float] = []
    with pytest.raises(errors.TranscodeStalled, match="no progress"):
        await asyncio.wait_for(
            transcoder.transcode(source, probe(source), tmp_path / "o", progress.append), 10
        )
    assert progress == [pytest.approx(1.0, abs=0.01)]  # 1 s of a 1 s clip, then nothing
    assert gone(int((tmp_path / "pid").read_text()))


async def test_cancelling_kills_ffmpeg(tmp_path: Path) -> None:
    transcoder = FfmpegTranscoder(
        fake_ffmpeg(tmp_path, "exec sleep 60"), "libx264", rate_control=FIXED
    )
    source = media("axm_bear_vp9_odd_161x121.webm")
    started = asyncio.Event()
    task = asyncio.create_task(
        transcoder.transcode(source, probe(source), tmp_path / "o", lambda _: started.set())
    )
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gone(int((tmp_path / "pid").read_text()))


async def test_an_error_in_on_progress_stops_ffmpeg(tmp_path: Path) -> None:
    transcoder = FfmpegTranscoder(
        fake_ffmpeg(tmp_path, "exec sleep 60"), "libx264", rate_control=FIXED
    )
    source = media("axm_bear_vp9_odd_161x121.webm")

    def lease_lost(_: float) -> None:
        raise RuntimeError("lease lost")

    with pytest.raises(RuntimeError, match="lease lost"):
        await asyncio.wait_for(
            transcoder.transcode(source, probe(source), tmp_path / "o", lease_lost), 10
        )
    assert gone(int((tmp_path / "pid").read_text()))


async def test_stderr_is_kept_bounded(tmp_path: Path) -> None:
    body = (
        'i=0; while [ $i -lt 5000 ]; do echo "noise line $i" >&2; i=$((i+1)); done; '
        "echo 'the real cause' >&2; exit 3"
    )
    transcoder = FfmpegTranscoder(fake_ffmpeg(tmp_path, body), "libx264", rate_control=FIXED)
    source = media("axm_bear_vp9_odd_161x121.webm")
    with pytest.raises(errors.TranscodeFailed) as failure:
        await transcoder.transcode(source, probe(source), tmp_path / "o", lambda _: None)
    assert failure.value.message.startswith("ffmpeg exited with 3: ")
    assert failure.value.message.endswith("noise line 4999; the real cause")
    assert len(failure.value.message) < 200


def test_default_ffmpeg(tmp_path: Path) -> None:
    assert (
        default_ffmpeg(Settings(data_dir=tmp_path, ffmpeg="/opt/ffmpeg", _env_file=None))
        == "/opt/ffmpeg"
    )
    assert default_ffmpeg(Settings(data_dir=tmp_path, _env_file=None)) == FFMPEG
