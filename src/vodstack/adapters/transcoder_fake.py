"""A Transcoder without ffmpeg, for worker and service tests: it writes a tiny one-rung
ladder and a storyboard (whose sheet is not a real picture) in milliseconds, and can be
told to reject the input, to fail, or to hang until cancelled (as a stuck ffmpeg would)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vodstack import errors
from vodstack.domain.chunks import AUDIO, PartSpec, RungOutput, VideoPlan
from vodstack.domain.ffmpeg_args import MP4_NAME, public_command
from vodstack.domain.ladder import plan_ladder
from vodstack.domain.media import (
    EncoderChoice,
    PartResult,
    Rendition,
    Rung,
    SourceInfo,
    TranscodeResult,
)
from vodstack.domain.pictures import (
    STORYBOARD,
    STORYBOARD_VTT,
    StoryboardPlan,
    Tile,
    choose_cover,
    place_tiles,
    render_vtt,
)
from vodstack.domain.playlist import MASTER_NAME, master_playlist
from vodstack.ports import CommandCallback, OutputCallback, ProgressCallback

FAKE_SOURCE = SourceInfo(
    container="mov,mp4,m4a,3gp,3g2,mj2",
    duration=4.0,
    video_codec="h264",
    width=1280,
    height=720,
    display_width=1280,
    display_height=720,
    rotation=0,
    sample_aspect_ratio=(1, 1),
    frame_rate=30.0,
    variable_frame_rate=False,
    pixel_format="yuv420p",
    bit_depth=8,
    interlaced=False,
    field_order="progressive",
    has_audio=True,
    audio_codec="aac",
    audio_channels=2,
    audio_sample_rate=48_000,
)
_RUNG = "720p"
_MEDIA_PLAYLIST = (
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    '#EXT-X-MAP:URI="init.mp4"\n#EXTINF:{duration:.6f},\nseg_00000.m4s\n#EXT-X-ENDLIST\n'
)


FAKE_ENCODER = EncoderChoice("fake", "the fake transcoder")


@dataclass
class FakeTranscoder:
    """``invalid``: probe raises InvalidMedia with this reason. ``fail``: transcode raises
    TranscodeFailed with this message, ``fail_times`` times (None: always). ``block``:
    transcode waits until cancelled, then sets ``cancelled``. ``seconds``: how long a
    transcode takes. ``mp4``: it writes an MP4 to download too, as ffmpeg does when
    ``VODSTACK_MP4_RENDITION`` is on."""

    info: SourceInfo = FAKE_SOURCE
    invalid: str | None = None
    fail: str | None = None
    fail_times: int | None = None
    block: bool = False
    seconds: float = 0.0
    mp4: bool = False
    probed: list[Path] = field(default_factory=list)
    transcoded: list[Path] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    # What ``extract_subtitles`` writes for each subtitle track; a track not here is
    # written as no file at all.
    subtitle_texts: dict[int, str] = field(default_factory=dict)

    async def extract_subtitles(
        self, source: Path, tracks: Sequence[int], out_dir: Path
    ) -> dict[int, Path]:
        return await asyncio.to_thread(self._write_subtitles, tracks, out_dir)

    def _write_subtitles(self, tracks: Sequence[int], out_dir: Path) -> dict[int, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = {}
        for track in tracks:
            if track in self.subtitle_texts:
                written[track] = out_dir / f"out_{track}.vtt"
                written[track].write_text(self.subtitle_texts[track])
        return written

    async def probe(self, source: Path) -> SourceInfo:
        self.probed.append(source)
        if self.invalid is not None:
            raise errors.InvalidMedia(self.invalid)
        return self.info

    async def plan_ladder(self, source: Path, info: SourceInfo) -> list[Rung]:
        return plan_ladder(info)

    async def transcode(
        self,
        source: Path,
        info: SourceInfo,
        out_dir: Path,
        on_progress: ProgressCallback,
        on_command: CommandCallback | None = None,
        *,
        ladder: Sequence[Rung] | None = None,
    ) -> TranscodeResult:
        self.transcoded.append(source)
        if on_command is not None:
            shown = public_command(["fake-ffmpeg", "-i", str(source)], source, out_dir)
            await on_command(shown, FAKE_ENCODER)
        self.started.set()
        await self._misbehave()
        on_progress(0.5)
        await asyncio.sleep(self.seconds)
        result = _write_ladder(source, info, out_dir, self.mp4)
        on_progress(1.0)
        return result

    async def transcode_part(
        self,
        source: Path | str,
        plan: VideoPlan,
        part: PartSpec,
        out_dir: Path,
        on_progress: ProgressCallback,
        on_command: CommandCallback | None = None,
        on_output: OutputCallback | None = None,
    ) -> PartResult:
        """Fake segments of the part's span, one per started 6 s, numbered as in the whole
        rung; the audio's are heard through ``on_output`` one at a time."""
        self.transcoded.append(Path(str(source)))
        if on_command is not None:
            shown = public_command(["fake-ffmpeg", "-i", str(source), part.key], source, out_dir)
            await on_command(shown, FAKE_ENCODER)
        self.started.set()
        await self._misbehave()
        first = round(part.start / 6)
        spans = [(n, min(6.0, part.end - n * 6)) for n in range(first, math.ceil(part.end / 6))]
        rungs = []
        for name in part.rungs:
            segments = tuple((f"seg_{n:05d}.m4s", seconds, 100) for n, seconds in spans)
            for file, _, _ in segments:
                (out_dir / name).mkdir(parents=True, exist_ok=True)
                (out_dir / name / file).write_bytes(b"x" * 100)
            (out_dir / name / "init.mp4").write_bytes(b"fake init segment")
            codecs = "mp4a.40.2" if name == AUDIO else "avc1.64001f"
            rung = RungOutput(name, "", "init.mp4", "fake", codecs, 6, segments)
            if on_output is not None:
                for count in range(1, len(segments)):
                    await on_output(dataclasses.replace(rung, segments=segments[:count]))
            rungs.append(rung)
        lowest = min(plan.rungs, key=lambda r: r.width * r.height)
        tiles: list[Tile] = []
        if lowest.name in part.rungs:
            board = StoryboardPlan(part.start, part.end, plan.duration, 160, 90)
            tiles = _write_storyboard(out_dir, board)
        on_progress(1.0)
        return PartResult(["fake-ffmpeg", part.key], FAKE_ENCODER, tuple(rungs), tuple(tiles))

    async def _misbehave(self) -> None:
        if self.block:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if self.fail is not None and (self.fail_times is None or self.fail_times > 0):
            if self.fail_times is not None:
                self.fail_times -= 1
            raise errors.TranscodeFailed(self.fail)


def _write_ladder(source: Path, info: SourceInfo, out_dir: Path, mp4: bool) -> TranscodeResult:
    rendition = Rendition(
        name=_RUNG,
        width=1280,
        height=720,
        bandwidth=3_000_000,
        average_bandwidth=2_500_000,
        codecs="avc1.64001f,mp4a.40.2",
        frame_rate=info.frame_rate,
        playlist=f"{_RUNG}/index.m3u8",
    )
    folder = out_dir / _RUNG
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.m3u8").write_text(
        _MEDIA_PLAYLIST.format(target=math.ceil(info.duration), duration=info.duration)
    )
    (folder / "init.mp4").write_bytes(b"fake init segment")
    (folder / "seg_00000.m4s").write_bytes(b"fake media segment")
    board = StoryboardPlan(0.0, info.duration, info.duration, 160, 90)
    tiles = _write_storyboard(out_dir, board)
    (out_dir / STORYBOARD_VTT).write_text(render_vtt(tiles, board.interval, info.duration))
    (out_dir / MASTER_NAME).write_text(master_playlist([rendition]).render())
    files = [Path(MASTER_NAME), Path(STORYBOARD_VTT)] + [
        Path(_RUNG, name) for name in ("index.m3u8", "init.mp4", "seg_00000.m4s")
    ]
    if mp4:
        (out_dir / MP4_NAME).write_bytes(b"fake mp4 file")
        files.append(Path(MP4_NAME))
    files += sorted({Path(STORYBOARD, t.sheet) for t in tiles})
    return TranscodeResult(
        command=["fake-ffmpeg", "-i", str(source), str(out_dir)],
        encoder=FAKE_ENCODER,
        duration=info.duration,
        renditions=[rendition],
        master_playlist=MASTER_NAME,
        files=sorted(files),
        cover_time=choose_cover(tiles, info.duration),
    )


# A JPEG's start and end markers around words: the fake ladder's segments hold no frames.
FAKE_PICTURE = b"\xff\xd8 a frame of the fake ladder \xff\xd9"


class FakeFrameGrabber:
    """The FrameGrabber for a ladder the fake transcoder made: the same stand-in picture
    for every frame; ``grabs`` counts the frames asked for."""

    def __init__(self) -> None:
        self.grabs: list[tuple[float, int]] = []

    async def grab(self, media: Path, offset: float, width: int, out: Path) -> None:
        self.grabs.append((offset, width))
        await asyncio.to_thread(out.write_bytes, FAKE_PICTURE)


def _write_storyboard(out_dir: Path, board: StoryboardPlan) -> list[Tile]:
    """The tiles of ``board``, all equally detailed, on sheets of fake bytes."""
    tiles = place_tiles(board.times, board.tile_size, board.grid)
    (out_dir / STORYBOARD).mkdir(parents=True, exist_ok=True)
    for sheet in {t.sheet for t in tiles}:
        (out_dir / STORYBOARD / sheet).write_bytes(b"fake sheet of tiles")
    return tiles
