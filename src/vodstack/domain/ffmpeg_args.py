"""The one ffmpeg command line that turns a source into the whole HLS ladder, the one-frame
NVENC trial command, and the parser for ffmpeg's ``-progress`` output. Pure, no I/O.

One process decodes the source once. Work that every rung shares (deinterlacing, the
frame rate, HDR tone mapping) runs once before a ``split``; each branch only scales.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from vodstack.domain.grid import KEYFRAME_SECONDS, SEGMENT_SECONDS
from vodstack.domain.media import EncoderChoice, Gap, Rung, SourceInfo
from vodstack.domain.quality import Samples, reference_select
from vodstack.domain.ratecontrol import ANALYSIS_CRF, Window

if TYPE_CHECKING:
    from vodstack.domain.chunks import Chunk

AUDIO_SAMPLE_RATE = 48_000
AUDIO_CHANNELS = 2
PLAYLIST_NAME = "index.m3u8"
INIT_NAME = "init.mp4"
SEGMENT_PATTERN = "seg_%05d.m4s"
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
# Frames the GPU path can decode and scale without a trip through system memory: NVDEC
# decodes these on every NVENC-capable GPU; autorotation and tone mapping are CPU filters.
_CUDA_DECODE_CODECS = frozenset({"h264", "hevc"})
_CUDA_DECODE_FORMATS = frozenset({"yuv420p", "yuvj420p", "nv12"})
# A keyframe every 2 s at exactly the same timestamps in every rung: the grid is a function
# of the output time only, and scene-cut keyframes are off, so segment boundaries line up.
FORCE_KEY_FRAMES = f"expr:gte(t,n_forced*{KEYFRAME_SECONDS})"
# A chunk's timestamps are put this far past its start on the output timeline, the first
# chunk's too. Then no encoder's B-frame delay makes a chunk's first timestamps negative, so
# ffmpeg shifts none of them: every chunk's init segment is the same, and each chunk's decode
# times follow on from the chunk before it, without a gap or an overlap.
CHUNK_TIMELINE_OFFSET = 1.0
# The demuxers an untrusted input may be opened with: real media containers only (and
# audio ones, so that an audio file is told it has no video rather than an unknown
# format). Not playlists (hls, dash), lists (concat), image sequences, text or subtitle
# formats, lavfi or devices: those open other files or URLs, or are not media at all.
# A name matches every alias of its demuxer: "mov" is also mp4, m4a and 3gp.
MEDIA_DEMUXERS = (
    *("mov", "matroska", "avi", "mpegts", "mpeg", "flv", "asf", "ogg", "mxf", "ivf"),
    *("nut", "dv", "gif", "mp3", "wav", "flac", "aac"),
)


def input_options(source: Path | str) -> dict[str, str]:
    """What an untrusted input is opened with, by the probe and by every ffmpeg: the
    allowed demuxers, and the one protocol that reaches the source (a file, or the job's
    presigned URL), so that nothing in a file can make ffmpeg open another file or URL."""
    protocols = "file"
    if isinstance(source, str):
        scheme = source.partition(":")[0]
        protocols = f"{scheme},tls,tcp" if scheme == "https" else f"{scheme},tcp"
    return {"format_whitelist": ",".join(MEDIA_DEMUXERS), "protocol_whitelist": protocols}


def _input(source: Path | str) -> list[str]:
    options = [[f"-{key}", value] for key, value in input_options(source).items()]
    return [*(arg for pair in options for arg in pair), "-i", str(source)]


@dataclass(frozen=True, slots=True)
class TranscodeSpec:
    """Everything the command depends on besides paths."""

    source: SourceInfo
    rungs: Sequence[Rung]
    frame_rate: Fraction
    encoder: EncoderChoice
    can_tonemap: bool = True  # the build has zscale and tonemap
    max_seconds: float | None = None  # tests only: encode just the start of the source
    # Only this span of the source, its video only (a chunked video's audio is encoded once,
    # apart), on the whole video's timeline and segment numbering.
    chunk: Chunk | None = None
    # The windows whose frames each rung's branch keeps as the quality receipt's reference.
    samples: Samples | None = None


def rung_playlist(rung: Rung) -> str:
    """The rung's media playlist, relative to the output folder (and the master playlist)."""
    return f"{rung.name}/{PLAYLIST_NAME}"


def build_command(ffmpeg: str, source: Path | str, out_dir: Path, spec: TranscodeSpec) -> list[str]:
    """The full argument vector: global options, the input, one filter graph, and one HLS
    output per rung (video plus its own copy of the audio, so every variant has sound)."""
    gpu = uses_cuda_frames(spec)
    command = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    command += ["-progress", "pipe:1", "-nostats"]
    if gpu:
        command += ["-hwaccel", "cuda", "-hwaccel_output_format", "cuda"]
    if spec.max_seconds is not None:
        command += ["-t", _number(spec.max_seconds)]
    if spec.chunk is not None:
        # Before -i: seek in the input, decoding from the keyframe before the chunk's start.
        command += ["-ss", _number(spec.chunk.start), "-to", _number(spec.chunk.end)]
    command += [*_input(source), "-filter_complex", filter_graph(spec)]
    with_audio = spec.source.has_audio and spec.chunk is None
    for index, rung in enumerate(spec.rungs):
        command += ["-map", f"[v{index}]"]
        if with_audio:
            command += ["-map", "0:a:0"]
        command += ["-map_metadata", "-1", "-map_chapters", "-1"]
        command += video_args(rung, spec.encoder, spec.frame_rate)
        if with_audio:
            command += audio_args(rung)
        if spec.chunk is not None:
            command += chunk_args(spec.chunk)
        if spec.source.stills:  # the thinned frames stay out: no duplicates at the muxer
            command += ["-fps_mode", "passthrough"]
        command += hls_args(out_dir, rung)
    if spec.samples is not None:
        for index, rung in enumerate(spec.rungs):
            command += ["-map", f"[q{index}]", "-map_metadata", "-1"]
            command += reference_output(out_dir, rung.name)
    return command


QUALITY = "quality"  # the folder of the receipt's reference frames, beside the rungs'


def reference_file(out_dir: Path, rung: str) -> Path:
    return out_dir / QUALITY / f"{rung}.nut"


def reference_output(out_dir: Path, rung: str) -> list[str]:
    """The output options of a rung's kept reference frames: lossless, and each frame as
    it comes (no frames made up to fill the time between windows)."""
    path = reference_file(out_dir, rung)
    return ["-c:v", "ffv1", "-fps_mode", "passthrough", "-f", "nut", str(path)]


def audio_command(
    ffmpeg: str, source: Path | str, out_dir: Path, audio_bitrate: int, folder: str
) -> list[str]:
    """A chunked video's audio, once, as its own HLS rendition in ``out_dir/folder``: on the
    same timeline as the video's chunks (one second out), in 6 s segments, and an EVENT
    playlist that ffmpeg rewrites after each segment, so the audio is published as it goes."""
    command = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    command += ["-progress", "pipe:1", "-nostats", *_input(source)]
    command += ["-map", "0:a:0", "-vn", "-map_metadata", "-1", "-map_chapters", "-1"]
    # Timestamps counted in samples from the video's zero, not copied from the container
    # (WebM's are whole milliseconds, which jitters every frame); a real gap in the source
    # is filled with silence, so the audio keeps to the video's timeline to the end.
    command += ["-af", "aresample=async=1:first_pts=0"]
    command += ["-c:a", "aac", "-profile:a", "aac_low", "-b:a", str(audio_bitrate)]
    command += ["-ac", str(AUDIO_CHANNELS), "-ar", str(AUDIO_SAMPLE_RATE)]
    command += ["-output_ts_offset", _number(CHUNK_TIMELINE_OFFSET)]
    where = out_dir / folder
    return [
        *command,
        "-f",
        "hls",
        "-hls_time",
        str(SEGMENT_SECONDS),
        "-hls_playlist_type",
        "event",
        "-hls_segment_type",
        "fmp4",
        "-hls_fmp4_init_filename",
        INIT_NAME,
        "-hls_segment_filename",
        str(where / SEGMENT_PATTERN),
        "-hls_flags",
        "independent_segments+temp_file",
        str(where / PLAYLIST_NAME),
    ]


def analysis_command(
    ffmpeg: str, source: Path | str, out_dir: Path, spec: TranscodeSpec, windows: Sequence[Window]
) -> list[str]:
    """The rate control's analysis: each window of the source, through the same shared
    filters as the encode, scaled to the smallest rung (``spec.rungs[0]``) and encoded at
    ``ANALYSIS_CRF`` into ``out_dir/w<N>.h264``, whose size is what it found. One process;
    each window is its own input, so only the windows are decoded."""
    (rung,) = spec.rungs
    command = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    command += ["-progress", "pipe:1", "-nostats"]
    for window in windows:
        command += ["-ss", _number(window.start), "-t", _number(window.length), *_input(source)]
    gop = str(max(1, round(spec.frame_rate * KEYFRAME_SECONDS)))
    # Each window's timestamps start at zero, so stills are not thinned here: a window in
    # one costs next to nothing either way.
    plain = dataclasses.replace(spec, source=dataclasses.replace(spec.source, stills=()))
    shared = ",".join(_shared_filters(plain, gpu=False))
    scale = f"scale=w={rung.width}:h={rung.height}:out_range=tv,setsar=1,format=yuv420p"
    graph = ";".join(f"[{i}:V:0]{shared},{scale}[w{i}]" for i in range(len(windows)))
    command += ["-filter_complex", graph]
    for index in range(len(windows)):
        command += ["-map", f"[w{index}]", "-an", "-map_metadata", "-1"]
        command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(ANALYSIS_CRF)]
        command += ["-g", gop, "-keyint_min", gop, "-sc_threshold", "0"]
        command += ["-f", "h264", str(out_dir / f"w{index}.h264")]
    return command


MP4_NAME = "download.mp4"


def mp4_command(ffmpeg: str, playlist: Path, output: Path) -> list[str]:
    """One rung's published HLS output (its video and its audio) copied into a single
    progressive MP4, moov first so it plays while it downloads; nothing is encoded again.
    The input is our own output, opened only as HLS of fMP4 files on local disk."""
    command = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    command += ["-progress", "pipe:1", "-nostats"]
    command += ["-format_whitelist", "hls,mov", "-protocol_whitelist", "file"]
    command += ["-f", "hls", "-i", str(playlist)]
    command += ["-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "-1", "-map_chapters", "-1"]
    return [*command, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(output)]


def chunk_args(chunk: Chunk) -> list[str]:
    """A chunk's output options: its place on the whole video's timeline, its first segment
    number, and fragments that carry their own decode time (``frag_discont``) rather than
    starting again at zero."""
    return [
        "-output_ts_offset",
        _number(chunk.start + CHUNK_TIMELINE_OFFSET),
        "-start_number",
        str(chunk.first_segment),
        "-hls_segment_options",
        "movflags=+frag_discont",
    ]


def uses_cuda_frames(spec: TranscodeSpec) -> bool:
    """Decode and scale on the GPU only where every filter in the graph can take CUDA
    frames; otherwise decode on the CPU and let NVENC read system memory."""
    source = spec.source
    return (
        spec.encoder.hwaccel
        and spec.encoder.name == "h264_nvenc"
        and source.video_codec in _CUDA_DECODE_CODECS
        and source.pixel_format in _CUDA_DECODE_FORMATS
        and source.rotation == 0
        and source.color_transfer not in HDR_TRANSFERS
    )


def filter_graph(spec: TranscodeSpec) -> str:
    """``[0:V:0]`` (the first real video stream, not cover art) -> shared filters -> split
    -> one scaled, square-pixel, 8-bit 4:2:0 branch per rung, labelled ``[v0]``, ``[v1]``..."""
    gpu = uses_cuda_frames(spec)
    shared = [*_shared_filters(spec, gpu), f"split={len(spec.rungs)}"]
    branches = [f"[0:V:0]{','.join(shared)}" + "".join(f"[s{i}]" for i in range(len(spec.rungs)))]
    for index, rung in enumerate(spec.rungs):
        if gpu:
            scale = f"scale_cuda=w={rung.width}:h={rung.height}:format=yuv420p,setsar=1"
        else:
            scale = f"scale=w={rung.width}:h={rung.height}:out_range=tv,setsar=1,format=yuv420p"
        if spec.samples is None:
            branches.append(f"[s{index}]{scale}[v{index}]")
            continue
        # The encoder's very input, a few frames of it kept for the quality receipt.
        keep = reference_select(spec.samples, spec.frame_rate)
        download = "hwdownload,format=yuv420p," if gpu else ""
        branches.append(f"[s{index}]{scale},split=2[v{index}][k{index}]")
        branches.append(f"[k{index}]{keep},{download}null[q{index}]")
    return ";".join(branches)


def _shared_filters(spec: TranscodeSpec, gpu: bool) -> list[str]:
    filters: list[str] = []
    if spec.source.interlaced:
        # One output frame per input frame: the frame rate stays the source's.
        name = "bwdif_cuda" if gpu else "bwdif"
        filters.append(f"{name}=mode=send_frame:parity=auto:deint=interlaced")
    # Always constant frame rate: VFR phone clips become CFR at their nominal rate, rates
    # above 60 are reduced, and the 2 s keyframe grid falls on whole frames.
    filters.append(f"fps={spec.frame_rate.numerator}/{spec.frame_rate.denominator}")
    if spec.source.stills:
        filters.append(thin_stills(spec.source.stills, spec.frame_rate))
    if spec.source.color_transfer in HDR_TRANSFERS and spec.can_tonemap and not gpu:
        filters.append(_tonemap(spec.source.color_transfer))
    return filters


def thin_stills(stills: Sequence[Gap], frame_rate: Fraction) -> str:
    """Inside each still, keep the first frame of every keyframe interval and drop the
    duplicates ``fps`` made: a ten-hour still is a frame every 2 s, not a million. The
    frame just before each segment's end is kept too: a fragment's last sample lasts as
    long as the muxer believes a frame does, so it must be one frame before the next."""
    interval = 1 / float(frame_rate)
    spans = "+".join(
        f"between(t\\,{g.start + interval / 2:.6f}\\,{g.end - interval / 2:.6f})" for g in stills
    )
    keyframe = f"lt(mod(t\\,{KEYFRAME_SECONDS})\\,{interval:.6f})"
    segment_end = f"gte(mod(t\\,{SEGMENT_SECONDS})\\,{SEGMENT_SECONDS - 1.5 * interval:.6f})"
    return f"select='not({spans})+{keyframe}+{segment_end}'"


def _tonemap(transfer: str) -> str:
    """HDR (PQ or HLG, BT.2020) to SDR BT.709 in linear light with the Hable curve. The input
    properties are set explicitly because many phone files leave some of them untagged."""
    return ",".join(
        [
            f"zscale=tin={transfer}:pin=bt2020:min=bt2020nc:t=linear:npl=100",
            "format=gbrpf32le",
            "zscale=p=bt709",
            "tonemap=tonemap=hable:desat=0",
            "zscale=t=bt709:m=bt709:r=tv",
            "format=yuv420p",
        ]
    )


def video_args(rung: Rung, encoder: EncoderChoice, frame_rate: Fraction) -> list[str]:
    gop = str(max(1, round(frame_rate * KEYFRAME_SECONDS)))
    cap = ["-maxrate", str(rung.maxrate), "-bufsize", str(rung.bufsize)]
    keyframes = ["-g", gop, "-keyint_min", gop, "-force_key_frames", FORCE_KEY_FRAMES]
    if rung.crf is None:
        rate = ["-b:v", str(rung.video_bitrate), *cap]
    elif encoder.name == "h264_nvenc":
        # NVENC's constant quality: VBR with no target, the quality index as x264's CRF.
        rate = ["-cq", str(rung.crf), "-b:v", "0", *cap]
    else:
        rate = ["-crf", str(rung.crf), *cap]
    if encoder.name == "h264_nvenc":
        codec = ["-c:v", "h264_nvenc", "-preset", "p4", "-tune", "hq", "-rc", "vbr"]
        # Forced frames must be IDR (not just I) for the HLS muxer to cut there.
        keyframes += ["-forced-idr", "1", "-no-scenecut", "1"]
    else:
        codec = ["-c:v", "libx264", "-preset", "veryfast"]
        keyframes += ["-sc_threshold", "0"]
    return [*codec, "-profile:v", "high", *rate, *keyframes]


def audio_args(rung: Rung) -> list[str]:
    return [
        "-c:a",
        "aac",
        "-profile:a",
        "aac_low",
        "-b:a",
        str(rung.audio_bitrate),
        "-ac",
        str(AUDIO_CHANNELS),
        "-ar",
        str(AUDIO_SAMPLE_RATE),
    ]


def hls_args(out_dir: Path, rung: Rung) -> list[str]:
    """fMP4 (CMAF) segments, a VOD playlist, and an init segment per rung. ffmpeg writes the
    init segment beside the segments and refers to both by bare name in the playlist."""
    folder = out_dir / rung.name
    return [
        "-f",
        "hls",
        "-hls_time",
        str(SEGMENT_SECONDS),
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        "fmp4",
        "-hls_fmp4_init_filename",
        INIT_NAME,
        "-hls_segment_filename",
        str(folder / SEGMENT_PATTERN),
        "-hls_flags",
        "independent_segments",
        str(folder / PLAYLIST_NAME),
    ]


def nvenc_trial_command(ffmpeg: str, *, cuda_filters: bool = False) -> list[str]:
    """Encode one generated frame with h264_nvenc; it fails fast where there is no NVIDIA
    GPU or driver. With ``cuda_filters`` the frame also goes through hwupload and
    scale_cuda, the path that keeps decoded frames on the GPU."""
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"]
    command += ["-f", "lavfi", "-i", "color=c=black:s=256x144:r=30:d=1"]
    if cuda_filters:
        command += ["-init_hw_device", "cuda=gpu", "-filter_hw_device", "gpu"]
        command += ["-vf", "format=nv12,hwupload,scale_cuda=w=128:h=72:format=yuv420p"]
    command += ["-frames:v", "1", "-c:v", "h264_nvenc", "-f", "null", "-"]
    return command


class ProgressParser:
    """Turns ffmpeg's ``-progress`` key=value lines into a 0..1 fraction. ffmpeg ends each
    report with a ``progress=continue`` (or ``progress=end``) line; ``feed`` returns the
    fraction then and ``None`` for every other line."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.out_time = 0.0
        self.ended = False

    def feed(self, line: str) -> float | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        if key == "out_time_us":
            # "N/A" before the first frame, and negative while audio priming is flushed.
            with contextlib.suppress(ValueError):
                self.out_time = max(self.out_time, int(value) / 1_000_000)
            return None
        if key != "progress":
            return None
        self.ended = value == "end"
        return self.fraction

    @property
    def fraction(self) -> float:
        if self.ended:
            return 1.0
        if self.duration <= 0:
            return 0.0
        return min(1.0, self.out_time / self.duration)


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def public_command(command: Sequence[str], source: Path | str, out_dir: Path) -> str:
    """The command line as the owner reads it, in the receipt and in the timeline: the
    ffmpeg binary, the worker's folders and the source's presigned URL (which carries a
    signature) are named, not given (the receipt names the build by its version)."""
    text = shlex.join(["ffmpeg", *command[1:]]).replace(str(out_dir), "out")
    return text.replace(str(source), "source" if isinstance(source, Path) else "<source URL>")
