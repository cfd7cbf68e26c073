"""A source's own subtitles, with real ffmpeg: the probe lists the MKV's SRT track, one
ffmpeg run writes it as WebVTT, and the worker stores it as the video's caption with the
cue times the file holds."""

from __future__ import annotations

from pathlib import Path

import av
import imageio_ffmpeg

from tests.conftest import media
from tests.support.db import add_queued_video
from vodstack.adapters.ffmpeg import FfmpegTranscoder
from vodstack.adapters.storage_memory import MemoryStorage
from vodstack.adapters.stores_memory import memory_stores
from vodstack.clock import utc_now
from vodstack.domain.captions import CaptionOrigin, caption_key, parse_captions
from vodstack.domain.jobs import Outcome
from vodstack.domain.videos import source_key
from vodstack.services.processing import Processor

SAMPLE = "axm_sample_h264_ac3_srt.mkv"


def _srt_cues(path: Path) -> list[tuple[float, float, str]]:
    """The cues as the container holds them: each SRT packet's time, length and text."""
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        assert stream.time_base is not None
        tick = float(stream.time_base)
        return [
            (p.pts * tick, (p.pts + (p.duration or 0)) * tick, bytes(p).decode().strip())
            for p in container.demux(stream)
            if p.pts is not None and p.size
        ]


async def test_the_probe_lists_the_track_and_ffmpeg_writes_it_with_its_times(
    tmp_path: Path,
) -> None:
    source = media(SAMPLE)
    transcoder = FfmpegTranscoder(imageio_ffmpeg.get_ffmpeg_exe(), "libx264")
    info = await transcoder.probe(source)
    assert [(t.index, t.language, t.title) for t in info.subtitles] == [(0, "eng", "Subs Label")]
    files = await transcoder.extract_subtitles(source, [0], tmp_path)
    cues = parse_captions(files[0].read_bytes())
    expected = _srt_cues(source)
    assert expected[0][2] == "This is the first subtitle."
    assert [(round(c.start, 3), round(c.end, 3), c.text) for c in cues] == [
        (round(a, 3), round(b, 3), text) for a, b, text in expected
    ]


async def test_the_worker_makes_the_track_a_caption_of_the_video(
    tmp_path: Path, storage: MemoryStorage
) -> None:
    stores = memory_stores()
    video_id = await add_queued_video(stores, utc_now())
    storage.objects[source_key(video_id)] = media(SAMPLE).read_bytes()
    transcoder = FfmpegTranscoder(imageio_ffmpeg.get_ffmpeg_exe(), "libx264")
    processor = Processor(stores.jobs, storage, transcoder, tmp_path, 30.0, 5.0)
    lease = await stores.jobs.claim("w", video_id)
    assert lease is not None

    settled = await processor.run(lease)

    assert settled.outcome is Outcome.PUBLISHED
    [caption] = await stores.captions.list(video_id)
    assert (caption.language, caption.name, caption.origin) == (
        "en",
        "Subs Label",
        CaptionOrigin.SOURCE,
    )
    stored = parse_captions(storage.objects[caption_key(video_id, caption.id)])
    assert [(c.start, c.text) for c in stored] == [(0.0, "This is the first subtitle.")]
    video = await stores.videos.get(video_id)
    assert video is not None
    assert video.warnings == ()
