from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from vodstack.domain.ladder import RateControl, display_size, output_frame_rate, plan_ladder
from vodstack.domain.media import SourceInfo


def source(
    width: int,
    height: int,
    *,
    rotation: int = 0,
    sar: tuple[int, int] = (1, 1),
    frame_rate: float = 30.0,
) -> SourceInfo:
    display_width, display_height = display_size(width, height, sar, rotation)
    return SourceInfo(
        container="mov,mp4,m4a,3gp,3g2,mj2",
        duration=10.0,
        video_codec="h264",
        width=width,
        height=height,
        display_width=display_width,
        display_height=display_height,
        rotation=rotation,
        sample_aspect_ratio=sar,
        frame_rate=frame_rate,
        variable_frame_rate=False,
        pixel_format="yuv420p",
        bit_depth=8,
        interlaced=False,
        field_order="progressive",
        has_audio=True,
    )


LANDSCAPE_16_9 = [
    ("1080p", 1920, 1080),
    ("720p", 1280, 720),
    ("480p", 854, 480),
    ("240p", 426, 240),
]
PORTRAIT_9_16 = [(name, h, w) for name, w, h in LANDSCAPE_16_9]


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        pytest.param(source(1920, 1080), LANDSCAPE_16_9, id="1080p"),
        pytest.param(source(3840, 2160), LANDSCAPE_16_9, id="4k-tops-out-at-1080p"),
        pytest.param(source(7680, 4320), LANDSCAPE_16_9, id="8k"),
        pytest.param(source(1280, 720), LANDSCAPE_16_9[1:], id="720p"),
        pytest.param(source(1080, 1920), PORTRAIT_9_16, id="portrait-coded"),
        pytest.param(source(1920, 1080, rotation=90), PORTRAIT_9_16, id="portrait-by-rotation"),
        pytest.param(source(1920, 1080, rotation=270), PORTRAIT_9_16, id="rotation-270"),
        pytest.param(source(1920, 1080, rotation=180), LANDSCAPE_16_9, id="upside-down"),
        pytest.param(source(3840, 2160, rotation=90), PORTRAIT_9_16, id="portrait-4k-by-rotation"),
        # Only 240p fits, and 332 is far above it: the film gets its own size too.
        pytest.param(
            source(800, 332, sar=(399, 400)),
            [("332p", 798, 332), ("240p", 576, 240)],
            id="film-800x332",
        ),
        pytest.param(
            source(642, 642), [("642p", 642, 642), ("480p", 480, 480), ("240p", 240, 240)]
        ),
        # Within 10% of 480p: no extra rung at 500p.
        pytest.param(source(888, 500), [("480p", 852, 480), ("240p", 426, 240)], id="near-480"),
        pytest.param(source(161, 121), [("120p", 160, 120)], id="tiny-odd"),
        pytest.param(source(121, 161), [("120p", 120, 160)], id="tiny-odd-portrait"),
        # SAR 64:45 stretches 800x640 to 1138x640 on screen; pixels come out square.
        pytest.param(
            source(800, 640, sar=(64, 45)),
            [("640p", 1138, 640), ("480p", 854, 480), ("240p", 426, 240)],
            id="anamorphic",
        ),
        # NTSC DV 4:3: 720x480 with 8:9 pixels is 640x480 on screen.
        pytest.param(
            source(720, 480, sar=(8, 9)), [("480p", 640, 480), ("240p", 320, 240)], id="ntsc-4:3"
        ),
        pytest.param(
            source(720, 480, sar=(32, 27)), [("480p", 854, 480), ("240p", 426, 240)], id="ntsc-16:9"
        ),
    ],
)
def test_ladder(info: SourceInfo, expected: list[tuple[str, int, int]]) -> None:
    rungs = plan_ladder(info)
    assert [(r.name, r.width, r.height) for r in rungs] == expected
    source_aspect = info.display_width / info.display_height
    short = min(info.display_width, info.display_height)
    for rung in rungs:
        assert rung.width % 2 == 0
        assert rung.height % 2 == 0
        # Never upscaled, measured by the short side.
        assert min(rung.width, rung.height) <= short
        # Aspect kept to within one 2-pixel rounding step of the long side.
        long_side = max(rung.width, rung.height)
        assert abs(rung.width / rung.height - source_aspect) <= 2.5 / long_side * source_aspect
    heights = [min(r.width, r.height) for r in rungs]
    assert heights == sorted(heights, reverse=True)


def test_standard_bitrates_and_caps() -> None:
    for rate_control in RateControl:
        rungs = plan_ladder(source(1920, 1080), rate_control=rate_control)
        assert [r.video_bitrate for r in rungs] == [5_000_000, 2_800_000, 1_400_000, 400_000]
        assert [r.audio_bitrate for r in rungs] == [128_000, 128_000, 128_000, 64_000]
        for rung in rungs:
            # Without an analysis, the fixed ladder's caps.
            assert rung.maxrate == rung.video_bitrate * 11 // 10
            assert rung.bufsize == rung.video_bitrate * 2
            assert (rung.crf is None) == (rate_control is RateControl.FIXED)


@pytest.mark.parametrize(
    ("max_rung", "expected"),
    [
        (1080, ["1080p", "720p", "480p", "240p"]),
        (1440, ["1440p", "1080p", "720p", "480p", "240p"]),
        (2160, ["2160p", "1440p", "1080p", "720p", "480p", "240p"]),
        (720, ["720p", "480p", "240p"]),
    ],
)
def test_rungs_above_1080p_only_up_to_the_max_rung(max_rung: int, expected: list[str]) -> None:
    rungs = plan_ladder(source(3840, 2160), max_rung=max_rung)
    assert [r.name for r in rungs] == expected
    # A portrait phone video is named by its short side too.
    portrait = plan_ladder(source(2160, 3840), max_rung=max_rung)
    assert [(r.name, r.width) for r in portrait] == [(r.name, r.height) for r in rungs]


def test_a_source_between_1080p_and_the_max_rung_gets_its_own_size() -> None:
    assert [r.name for r in plan_ladder(source(2200, 1238))] == ["1080p", "720p", "480p", "240p"]
    own = plan_ladder(source(2200, 1238), max_rung=2160)
    assert [r.name for r in own] == ["1238p", "1080p", "720p", "480p", "240p"]
    with pytest.raises(ValueError, match="max_rung must be one of"):
        plan_ladder(source(1920, 1080), max_rung=1000)


def test_own_size_bitrate_scales_by_pixels_from_the_nearest_standard_rung() -> None:
    film, _ = plan_ladder(source(800, 332, sar=(399, 400)))
    # 240p is nearer to 332 than 480p: 400k x (332/240)^2.
    assert film.video_bitrate == 765_000
    tiny = plan_ladder(source(161, 121))[0]
    assert tiny.video_bitrate == 100_000  # 400k x (120/240)^2 is 100k, the floor too
    assert tiny.audio_bitrate == 64_000


def test_display_size() -> None:
    assert display_size(1920, 1080, (1, 1), 90) == (1080, 1920)
    assert display_size(800, 640, (64, 45), 0) == (1138, 640)
    assert display_size(800, 640, (64, 45), 270) == (640, 1138)
    assert display_size(640, 480, (0, 1), 0) == (640, 480)  # unknown SAR: square


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (25.0, Fraction(25)),
        (30000 / 1001, Fraction(30000, 1001)),
        (60.0, Fraction(60)),
        (60.058, Fraction(60)),  # a phone's 60 is not halved
        (120.0, Fraction(60)),
        (120000 / 1001, Fraction(60000, 1001)),
        (100.0, Fraction(50)),
        (240.0, Fraction(60)),
        (10.0, Fraction(10)),
    ],
)
def test_output_frame_rate(rate: float, expected: Fraction) -> None:
    assert output_frame_rate(replace(source(1920, 1080), frame_rate=rate)) == expected
