from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from vodstack.domain.ffmpeg_args import (
    MEDIA_DEMUXERS,
    ProgressParser,
    TranscodeSpec,
    audio_command,
    build_command,
    filter_graph,
    mp4_command,
    nvenc_trial_command,
    uses_cuda_frames,
)
from vodstack.domain.ladder import RateControl, output_frame_rate, plan_ladder
from vodstack.domain.media import EncoderChoice, Gap, SourceInfo

from .test_ladder import source

X264 = EncoderChoice("libx264", "test")
NVENC = EncoderChoice("h264_nvenc", "test")
NVENC_CUDA = EncoderChoice("h264_nvenc", "test", hwaccel=True)
OUT = Path("/out")


def spec(info: SourceInfo, encoder: EncoderChoice = X264, **kwargs: object) -> TranscodeSpec:
    return TranscodeSpec(
        source=info,
        rungs=plan_ladder(info),
        frame_rate=output_frame_rate(info),
        encoder=encoder,
        **kwargs,  # type: ignore[arg-type]
    )


def outputs(command: list[str]) -> list[list[str]]:
    """The command cut into one argument list per output, each starting at its first -map."""
    start = command.index("-filter_complex") + 2
    chunks: list[list[str]] = []
    for arg_index in range(start, len(command)):
        if command[arg_index] == "-map" and command[arg_index + 1].startswith("[v"):
            chunks.append([])
        chunks[-1].append(command[arg_index])
    return chunks


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_filter_graph_decodes_once_and_scales_per_rung() -> None:
    graph = filter_graph(spec(source(1280, 720)))
    assert graph == (
        "[0:V:0]fps=30/1,split=3[s0][s1][s2];"
        "[s0]scale=w=1280:h=720:out_range=tv,setsar=1,format=yuv420p[v0];"
        "[s1]scale=w=854:h=480:out_range=tv,setsar=1,format=yuv420p[v1];"
        "[s2]scale=w=426:h=240:out_range=tv,setsar=1,format=yuv420p[v2]"
    )


def test_command_global_options_and_input() -> None:
    command = build_command("ffmpeg", Path("/in/src.mp4"), OUT, spec(source(1280, 720)))
    assert command[0] == "ffmpeg"
    assert command[command.index("-progress") + 1] == "pipe:1"
    assert "-nostats" in command
    assert "-nostdin" in command
    assert command[command.index("-i") + 1] == "/in/src.mp4"
    assert "-t" not in command
    assert "-hwaccel" not in command


def test_every_rung_gets_video_audio_and_its_own_hls_output() -> None:
    info = source(1920, 1080)
    fixed = replace(spec(info), rungs=plan_ladder(info, rate_control=RateControl.FIXED))
    command = build_command("ffmpeg", Path("/in/src.mp4"), OUT, fixed)
    chunks = outputs(command)
    assert len(chunks) == 4
    for index, (chunk, name, rate) in enumerate(
        zip(chunks, ["1080p", "720p", "480p", "240p"], [5000, 2800, 1400, 400], strict=True)
    ):
        maps = [chunk[i + 1] for i, arg in enumerate(chunk) if arg == "-map"]
        assert maps == [f"[v{index}]", "0:a:0"]
        assert option(chunk, "-c:v") == "libx264"
        assert option(chunk, "-profile:v") == "high"
        assert option(chunk, "-b:v") == str(rate * 1000)
        assert "-crf" not in chunk
        assert option(chunk, "-maxrate") == str(rate * 1100)
        assert option(chunk, "-bufsize") == str(rate * 2000)
        assert option(chunk, "-force_key_frames") == "expr:gte(t,n_forced*2)"
        assert option(chunk, "-sc_threshold") == "0"
        assert option(chunk, "-g") == option(chunk, "-keyint_min") == "60"
        assert option(chunk, "-c:a") == "aac"
        assert option(chunk, "-profile:a") == "aac_low"
        assert option(chunk, "-ac") == "2"
        assert option(chunk, "-f") == "hls"
        assert option(chunk, "-hls_time") == "6"
        assert option(chunk, "-hls_segment_type") == "fmp4"
        assert option(chunk, "-hls_playlist_type") == "vod"
        assert option(chunk, "-hls_flags") == "independent_segments"
        assert option(chunk, "-hls_fmp4_init_filename") == "init.mp4"
        assert option(chunk, "-hls_segment_filename") == f"/out/{name}/seg_%05d.m4s"
        assert chunk[-1] == f"/out/{name}/index.m3u8"


def test_no_audio_stream_when_the_source_has_none() -> None:
    info = replace(source(1280, 720), has_audio=False)
    command = build_command("ffmpeg", Path("/in/src.mp4"), OUT, spec(info))
    assert "0:a:0" not in command
    assert "-c:a" not in command


@pytest.mark.parametrize(("rate", "gop"), [(25.0, "50"), (30000 / 1001, "60"), (10.0, "20")])
def test_gop_is_two_seconds_of_output_frames(rate: float, gop: str) -> None:
    info = replace(source(1280, 720), frame_rate=rate)
    command = build_command("ffmpeg", Path("/in/src.mp4"), OUT, spec(info))
    assert option(command, "-g") == gop


def test_high_frame_rates_are_reduced_and_vfr_becomes_constant() -> None:
    fast = replace(source(1920, 1080), frame_rate=120.0)
    assert filter_graph(spec(fast)).startswith("[0:V:0]fps=60/1,split=4")
    vfr = replace(source(1280, 720), frame_rate=30000 / 1001, variable_frame_rate=True)
    assert filter_graph(spec(vfr)).startswith("[0:V:0]fps=30000/1001,split=3")


def test_interlaced_sources_are_deinterlaced_once_before_the_split() -> None:
    info = replace(source(720, 480, sar=(32, 27)), interlaced=True, field_order="tt")
    graph = filter_graph(spec(info))
    assert graph.startswith("[0:V:0]bwdif=mode=send_frame:parity=auto:deint=interlaced,fps=")
    assert graph.count("bwdif") == 1


def test_hdr_is_tone_mapped_once_before_the_split() -> None:
    info = replace(
        source(1920, 1080), pixel_format="yuv420p10le", bit_depth=10, color_transfer="smpte2084"
    )
    shared = filter_graph(spec(info)).split("split=")[0]
    assert "zscale=tin=smpte2084:pin=bt2020:min=bt2020nc:t=linear:npl=100" in shared
    assert "tonemap=tonemap=hable" in shared
    assert shared.endswith("format=yuv420p,")
    without = filter_graph(spec(info, can_tonemap=False))
    assert "tonemap" not in without
    assert "zscale" not in without
    assert without.count("format=yuv420p") == 4  # still 8-bit 4:2:0 per rung


def test_ten_bit_sdr_is_not_tone_mapped() -> None:
    info = replace(source(426, 240), pixel_format="yuv420p10le", bit_depth=10)
    assert "tonemap" not in filter_graph(spec(info))


def test_max_seconds_limits_the_input() -> None:
    command = build_command("ffmpeg", Path("/in/a.mp4"), OUT, spec(source(640, 360), max_seconds=4))
    assert command[command.index("-t") + 1] == "4"
    assert command.index("-t") < command.index("-i")


def test_nvenc_without_cuda_frames_decodes_and_scales_on_the_cpu() -> None:
    command = build_command("ffmpeg", Path("/in/a.mp4"), OUT, spec(source(1280, 720), NVENC))
    for chunk in outputs(command):
        assert option(chunk, "-c:v") == "h264_nvenc"
        assert option(chunk, "-forced-idr") == "1"
        assert option(chunk, "-force_key_frames") == "expr:gte(t,n_forced*2)"
        assert "-sc_threshold" not in chunk
    assert "-hwaccel" not in command
    assert "scale_cuda" not in command[command.index("-filter_complex") + 1]


def test_nvenc_with_cuda_frames() -> None:
    info = replace(source(1280, 720), interlaced=True, field_order="tt")
    command = build_command("ffmpeg", Path("/in/a.mp4"), OUT, spec(info, NVENC_CUDA))
    assert command[command.index("-hwaccel") + 1] == "cuda"
    assert command[command.index("-hwaccel_output_format") + 1] == "cuda"
    graph = option(command, "-filter_complex")
    assert graph.startswith("[0:V:0]bwdif_cuda=")
    assert "[s0]scale_cuda=w=1280:h=720:format=yuv420p,setsar=1[v0]" in graph


@pytest.mark.parametrize(
    "change",
    [
        {"rotation": 90},  # autorotation inserts CPU filters
        {"video_codec": "vp8"},
        {"pixel_format": "yuv420p10le", "bit_depth": 10, "color_transfer": "smpte2084"},
    ],
)
def test_cuda_frames_only_where_every_filter_takes_them(change: dict[str, object]) -> None:
    info = replace(source(1920, 1080), **change)  # type: ignore[arg-type]
    assert uses_cuda_frames(spec(info, NVENC_CUDA)) is False
    assert uses_cuda_frames(spec(source(1920, 1080), NVENC_CUDA)) is True


def test_nvenc_trial_command() -> None:
    plain = nvenc_trial_command("ffmpeg")
    assert plain[:2] == ["ffmpeg", "-hide_banner"]
    assert option(plain, "-c:v") == "h264_nvenc"
    assert option(plain, "-frames:v") == "1"
    assert option(plain, "-f") == "lavfi"
    assert plain[-3:] == ["-f", "null", "-"]
    cuda = nvenc_trial_command("ffmpeg", cuda_filters=True)
    assert "scale_cuda" in option(cuda, "-vf")


PROGRESS_REPORT = """frame=150
fps=41.2
stream_0_0_q=28.0
bitrate=N/A
total_size=N/A
out_time_us=5000000
out_time_ms=5000000
out_time=00:00:05.000000
dup_frames=0
drop_frames=0
speed=1.37x
progress=continue
"""


def test_progress_reports_become_fractions() -> None:
    parser = ProgressParser(duration=10.0)
    fractions = [parser.feed(line) for line in PROGRESS_REPORT.splitlines()]
    assert fractions[:-1] == [None] * 11
    assert fractions[-1] == pytest.approx(0.5)
    assert parser.feed("out_time_us=9000000") is None
    assert parser.feed("progress=continue") == pytest.approx(0.9)
    assert parser.feed("progress=end") == 1.0


def test_progress_ignores_unknown_times_and_never_goes_back_or_past_one() -> None:
    parser = ProgressParser(duration=4.0)
    assert parser.feed("out_time_us=N/A") is None
    assert parser.feed("progress=continue") == 0.0
    parser.feed("out_time_us=3000000")
    parser.feed("out_time_us=-23220")
    assert parser.feed("progress=continue") == pytest.approx(0.75)
    parser.feed("out_time_us=4100000")
    assert parser.feed("progress=continue") == 1.0
    assert parser.feed("not a progress line") is None


def test_progress_without_a_duration_stays_at_zero_until_the_end() -> None:
    parser = ProgressParser(duration=0.0)
    parser.feed("out_time_us=3000000")
    assert parser.feed("progress=continue") == 0.0
    assert parser.feed("progress=end") == 1.0


def test_frame_rate_is_passed_exactly() -> None:
    info = replace(source(1280, 720), frame_rate=24000 / 1001)
    assert spec(info).frame_rate == Fraction(24000, 1001)
    assert "fps=24000/1001" in filter_graph(spec(info))


def test_a_chunk_seeks_its_span_and_keeps_the_whole_videos_timeline() -> None:
    from vodstack.domain.chunks import Chunk

    chunk = Chunk(2, 18.0, 42.0)
    command = build_command("ffmpeg", Path("/in"), OUT, spec(source(1280, 720), chunk=chunk))
    before_input = command[: command.index("-i")]
    assert before_input[-8:-4] == ["-ss", "18", "-to", "42"]  # input seeking
    for args in outputs(command):
        assert "0:a:0" not in args  # audio is encoded once per video, apart
        assert option(args, "-output_ts_offset") == "19"  # its start, past the offset
        assert option(args, "-start_number") == "3"  # segments 3.. follow chunk 1's
        assert "frag_discont" in option(args, "-hls_segment_options")
    whole = build_command("ffmpeg", Path("/in"), OUT, spec(source(1280, 720)))
    assert "-ss" not in whole
    assert "-output_ts_offset" not in whole
    assert all("0:a:0" in args for args in outputs(whole))  # unchunked: audio in every rung


def test_every_input_is_opened_with_media_demuxers_and_its_one_protocol() -> None:
    info = source(1280, 720)
    local = build_command("ffmpeg", Path("/in"), OUT, spec(info))
    assert local[local.index("-i") - 4 : local.index("-i") + 2] == [
        "-format_whitelist",
        ",".join(MEDIA_DEMUXERS),
        "-protocol_whitelist",
        "file",
        "-i",
        "/in",
    ]
    url = "https://bucket.example/sources/v/source?X-Amz-Signature=abc"
    remote = build_command("ffmpeg", url, OUT, spec(info))
    assert option(remote, "-protocol_whitelist") == "https,tls,tcp"
    audio = audio_command("ffmpeg", "http://127.0.0.1:9000/s", OUT, 128_000, "audio")
    assert option(audio, "-protocol_whitelist") == "http,tcp"
    assert option(audio, "-format_whitelist") == ",".join(MEDIA_DEMUXERS)
    for refused in ("hls", "concat", "image2", "lavfi", "tty", "srt", "dash", "v4l2"):
        assert refused not in MEDIA_DEMUXERS


def test_stills_are_thinned_to_a_frame_per_keyframe_and_one_before_each_segment_end() -> None:
    info = replace(source(1280, 720), stills=(Gap(0.9, 36000.9), Gap(36010.0, 36020.0)))
    graph = filter_graph(spec(info))
    shared = graph.split(";")[0]
    assert shared.index("fps=30/1") < shared.index("select=") < shared.index("split=")
    assert (
        "select='not(between(t\\,0.916667\\,36000.883333)+between(t\\,36010.016667\\,"
        "36019.983333))+lt(mod(t\\,2)\\,0.033333)+gte(mod(t\\,6)\\,5.950000)'"
    ) in shared
    # The muxers keep the thinned timestamps rather than filling them in again.
    command = build_command("ffmpeg", Path("/in"), OUT, spec(info))
    assert all(option(args, "-fps_mode") == "passthrough" for args in outputs(command))
    plain = build_command("ffmpeg", Path("/in"), OUT, spec(source(1280, 720)))
    assert "-fps_mode" not in plain
    assert "select=" not in filter_graph(spec(source(1280, 720)))


def test_the_mp4_copy_opens_only_our_own_hls_output_and_encodes_nothing() -> None:
    command = mp4_command("ffmpeg", Path("/out/720p/index.m3u8"), Path("/out/download.mp4"))
    start = command.index("-format_whitelist")
    assert command[start : start + 8] == [
        *("-format_whitelist", "hls,mov", "-protocol_whitelist", "file"),
        *("-f", "hls", "-i", "/out/720p/index.m3u8"),
    ]
    assert command[-7:] == [
        *("-c", "copy", "-movflags", "+faststart"),
        *("-f", "mp4", "/out/download.mp4"),
    ]


def test_quality_rungs_are_capped_crf_on_both_encoders() -> None:
    info = source(1920, 1080)
    for encoder, quality in ((X264, "-crf"), (NVENC, "-cq")):
        for chunk, rung in zip(
            outputs(build_command("ffmpeg", Path("/in/s.mp4"), OUT, spec(info, encoder))),
            plan_ladder(info),
            strict=True,
        ):
            assert option(chunk, quality) == str(rung.crf)
            assert option(chunk, "-maxrate") == str(rung.maxrate)
            assert option(chunk, "-bufsize") == str(rung.bufsize)
            # NVENC takes no target in constant-quality mode; x264 gets none to follow.
            assert chunk.count("-b:v") == (1 if encoder is NVENC else 0)
