"""The quality receipt on real encodes: the sampled frames meet the encoder's own input
frame for frame, and a rung that falls below the floor is not published while the others
are; when none passes, the encode fails with the rule."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import pytest

from tests.integration.test_iframes import make_clip
from vodstack import errors
from vodstack.adapters.ffmpeg import FfmpegTranscoder
from vodstack.adapters.quality import Comparison, measure_rungs, scores, vmaf_command
from vodstack.domain.ffmpeg_args import TranscodeSpec, build_command, reference_file
from vodstack.domain.ladder import output_frame_rate
from vodstack.domain.media import TranscodeResult
from vodstack.domain.playlist import parse_media_playlist
from vodstack.domain.quality import Samples, reference_offsets, segment_starts

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
MEDIA = Path(__file__).parents[2].parent / "shared" / "media"
FILM = MEDIA / "mdn_tears_of_steel_800x332_vp8_70s.webm"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 s of a test pattern: two rungs (360p, 240p), two segments, the first sampled."""
    return make_clip(tmp_path_factory.mktemp("quality") / "clip.mp4", 7)


async def encode(source: Path, out: Path, min_vmaf: float) -> TranscodeResult:
    transcoder = FfmpegTranscoder(FFMPEG, "libx264", stall_timeout=60, min_vmaf=min_vmaf)
    return await transcoder.transcode(source, await transcoder.probe(source), out, lambda _: None)


async def test_a_rung_below_the_floor_is_left_out_and_the_others_published(
    clip: Path, tmp_path: Path
) -> None:
    first = await encode(clip, tmp_path / "a", 0)
    assert first.receipt is not None
    vmaf = {r.rung: r.vmaf for r in first.receipt.rungs}
    assert all(r.published and r.frames > 0 for r in first.receipt.rungs)
    assert vmaf["360p"] is not None
    assert vmaf["240p"] is not None
    # The encode and its measure are deterministic: a floor between the two rungs' scores
    # refuses the lower one the second time.
    assert vmaf["360p"] != vmaf["240p"], vmaf
    low, high = sorted(("360p", "240p"), key=lambda r: vmaf[r] or 0)
    floor = (vmaf["360p"] + vmaf["240p"]) / 2
    again = await encode(clip, tmp_path / "b", floor)
    assert again.receipt is not None
    by_rung = {r.rung: r for r in again.receipt.rungs}
    assert by_rung[high].published
    assert by_rung[high].vmaf == vmaf[high]  # the same encode, measured the same
    assert by_rung[low].problems == (
        f"VMAF {vmaf[low]:.1f} on sampled frames is below the floor of {floor:g}",
    )
    assert [r.name for r in again.renditions] == [high]
    master = (tmp_path / "b" / "master.m3u8").read_text()
    assert f"{low}/" not in master
    assert f"{high}/index.m3u8" in master
    assert not any(f.parts[0] == low for f in again.files)
    assert not (tmp_path / "b" / "quality").exists()  # the reference frames are not kept
    receipt = again.receipt.to_json()
    assert receipt["ffmpeg_version"].startswith("ffmpeg version")
    assert str(tmp_path) not in receipt["command"]
    assert FFMPEG not in receipt["command"]
    assert receipt["command"].startswith("ffmpeg -hide_banner")
    assert " out/360p/index.m3u8" in receipt["command"]
    assert [r["published"] for r in receipt["rungs"]] == [high == "360p", high == "240p"]


async def test_when_no_rung_passes_the_encode_fails_with_the_rule(
    clip: Path, tmp_path: Path
) -> None:
    with pytest.raises(errors.TranscodeFailed) as failed:
        await encode(clip, tmp_path, 100.5)
    message = str(failed.value)
    assert message.startswith("no rendition passed its quality check: 360p: VMAF")
    assert "240p: VMAF" in message
    assert "below the floor of 100.5" in message


async def test_the_sampled_frames_meet_the_encoders_own_input(tmp_path: Path) -> None:
    """The comparison as made beats the same comparison one frame off either way: the
    reference kept in the encode and the decoded window are the same frames."""
    if not FILM.exists():
        pytest.skip(f"the test media is not at {MEDIA}")
    transcoder = FfmpegTranscoder(FFMPEG, "libx264")
    info = await transcoder.probe(FILM)
    rungs = await transcoder.plan_ladder(FILM, info)
    samples = Samples((1,), 6)
    frame_rate = output_frame_rate(info)
    spec = TranscodeSpec(
        info, rungs, frame_rate, (await transcoder.capabilities()).encoder, samples=samples
    )
    spec = dataclasses.replace(spec, max_seconds=13)
    for rung in [*(r.name for r in rungs), "quality"]:
        (tmp_path / rung).mkdir()

    async def run(command: list[str], seconds: float) -> None:
        await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)

    await run(build_command(FFMPEG, FILM, tmp_path, spec), 13)
    names = [r.name for r in rungs]
    keyframes = dict.fromkeys(names, True)
    measures = await measure_rungs(FFMPEG, run, tmp_path, names, samples, frame_rate, keyframes)
    for measure in measures:
        assert len(measure.vmaf) == 6
        aligned = sum(measure.vmaf) / 6
        for shift in (-1, 1):
            assert off_by(tmp_path, measure.rung, samples, frame_rate, shift) < aligned - 3


def off_by(out: Path, rung: str, samples: Samples, frame_rate: Fraction, shift: int) -> float:
    playlist = parse_media_playlist((out / rung / "index.m3u8").read_text())
    starts = segment_starts([s.duration for s in playlist.segments], frame_rate)
    offsets = [o + shift for o in reference_offsets(samples, frame_rate, starts)]
    log = out / f"{rung}{shift}.json"
    comparison = Comparison(
        reference_file(out, rung),
        out / rung / "init.mp4",
        tuple(out / rung / playlist.segments[k].uri for k in samples.segments),
        tuple(offsets),
        samples.frames,
        log,
    )
    subprocess.run(vmaf_command(FFMPEG, [comparison]), check=True, capture_output=True)
    vmaf, _ = scores(log)
    return sum(vmaf) / len(vmaf)
