"""Take scoring on real tiny clips: a clean take, a frozen one, one that starts black, one that drifted, a pinned
last frame, colour against neighbours, and ``best_take`` picking the clean one and saying why.

The takes are made the way the emulator makes them (``emulator.renders``) from a mostly flat product picture, the
hard case for both SSIM and freeze detection; clips are 160x90, 2 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from media_pipeline.emulator.renders import FREEZE_FROM, freeze_clip, take_picture
from media_pipeline.media.animate import animate_still
from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import ffmpeg_runs, run_ffmpeg
from media_pipeline.media.scoring import COLOUR_OFF, DRIFT_SSIM, TakeScores, best_take, score_take, with_neighbours
from media_pipeline.media.take_analysis import FREEZE_MIN_SECONDS
from media_pipeline_tests.xai_builders import image_bytes

SECONDS = 2
BLACK_SECONDS = 0.5


def render(picture: Path, out: Path, *, end_image: Path | None = None) -> Path:
    return animate_still(
        picture,
        out,
        prompt="slow push in on the product",
        duration=SECONDS,
        resolution="90p",
        aspect_ratio="16:9",
        end_image=end_image,
    )


@pytest.fixture(scope="module")
def takes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The source picture, another picture, and takes of the source: clean, variant, frozen, black start, drifted."""
    folder = tmp_path_factory.mktemp("takes")
    source = folder / "source.png"
    source.write_bytes(image_bytes())
    other = folder / "other.png"
    stripes = Image.new("RGB", (160, 96), (30, 90, 200))
    for x in range(0, 160, 32):
        stripes.paste((250, 220, 60), (x, 0, x + 12, 96))
    stripes.save(other)
    paths = {"source": source, "other": other}
    for name, look, variant in (("drifted", "drift", 0), ("variant", "clean", 1)):
        picture = folder / f"{name}.png"
        take_picture(Image.open(source), look=look, variant=variant).save(picture)
        paths[name] = render(picture, folder / f"{name}.mp4")
    paths["clean"] = render(source, folder / "clean.mp4")
    paths["frozen"] = freeze_clip(paths["clean"], folder / "frozen.mp4")
    paths["pinned"] = render(source, folder / "pinned.mp4", end_image=other)
    black = folder / "black.mp4"
    run_ffmpeg(
        [
            *("-f", "lavfi", "-i", f"color=black:s=160x90:r=24:d={BLACK_SECONDS}", "-i", paths["clean"]),
            *("-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0", "-c:v", "libx264", "-pix_fmt", "yuv420p", black),
        ],
        what="black-start test clip",
    )
    paths["black"] = black
    return paths


@pytest.fixture(scope="module")
def scores(takes: dict[str, Path]) -> dict[str, TakeScores]:
    names = ("clean", "variant", "frozen", "black", "drifted")
    return {name: score_take(takes[name], takes["source"]) for name in names}


def test_a_clean_take_scores_high_in_one_ffmpeg_run(takes: dict[str, Path]) -> None:
    runs = ffmpeg_runs()
    clean = score_take(takes["clean"], takes["source"])
    assert ffmpeg_runs() - runs == 1  # freezedetect, blackdetect and the sampled frames in one pass
    assert clean.seconds == pytest.approx(SECONDS)
    assert clean.first_frame_ssim is not None and clean.first_frame_ssim > 0.95
    assert clean.last_frame_ssim is None and clean.colour_distance is None
    assert clean.frozen_seconds == 0 and clean.black_seconds == 0
    assert clean.overall > 0.95
    assert clean.reason.startswith("clean, first-frame SSIM")


def test_a_variant_take_is_clean_too(scores: dict[str, TakeScores]) -> None:
    variant, clean = scores["variant"], scores["clean"]
    assert not variant.defects and variant.overall > 0.95
    assert 0 < variant.colour.distance(clean.colour) < COLOUR_OFF


def test_a_frozen_take_is_measured_and_named(scores: dict[str, TakeScores]) -> None:
    frozen = scores["frozen"]
    held = SECONDS * (1 - FREEZE_FROM)
    assert frozen.frozen_seconds == pytest.approx(held, abs=0.15)
    assert frozen.frozen_fraction == pytest.approx(held / SECONDS, abs=0.08)
    assert frozen.frozen_seconds >= FREEZE_MIN_SECONDS
    assert frozen.first_frame_ssim is not None and frozen.first_frame_ssim > 0.95  # it starts right
    assert frozen.overall < 0.3
    assert frozen.reason == f"frozen {frozen.frozen_seconds:.1f} s ({frozen.frozen_fraction:.0%})"


def test_a_take_starting_black_is_measured_and_named(scores: dict[str, TakeScores]) -> None:
    black = scores["black"]
    assert black.seconds == pytest.approx(SECONDS + BLACK_SECONDS)
    assert black.black_seconds == pytest.approx(BLACK_SECONDS, abs=0.05)
    assert black.black_fraction == pytest.approx(BLACK_SECONDS / (SECONDS + BLACK_SECONDS), abs=0.03)
    assert "black 0.5 s (20%)" in black.reason
    assert black.overall < scores["clean"].overall


def test_a_drifted_take_starts_on_another_picture(scores: dict[str, TakeScores]) -> None:
    drifted = scores["drifted"]
    assert drifted.first_frame_ssim is not None and drifted.first_frame_ssim < DRIFT_SSIM
    assert drifted.frozen_seconds == 0 and drifted.black_seconds == 0
    assert drifted.reason == f"starts on another picture (SSIM {drifted.first_frame_ssim:.2f})"
    assert drifted.overall < 0.3


def test_the_last_frame_is_matched_to_the_pinned_one(takes: dict[str, Path]) -> None:
    kept = score_take(takes["pinned"], takes["source"], last_frame=takes["other"])
    assert kept.last_frame_ssim is not None and kept.last_frame_ssim > 0.95 and not kept.defects
    missed = score_take(takes["clean"], takes["source"], last_frame=takes["other"])
    assert missed.last_frame_ssim is not None and missed.last_frame_ssim < DRIFT_SSIM
    assert "ends off the pinned last frame" in missed.reason and missed.overall < kept.overall


def test_colour_against_neighbours_needs_no_decode(scores: dict[str, TakeScores]) -> None:
    neighbours = [scores["clean"].colour]
    runs = ffmpeg_runs()
    variant = with_neighbours(scores["variant"], neighbours)
    drifted = with_neighbours(scores["drifted"], neighbours)
    assert ffmpeg_runs() == runs
    assert variant.colour_distance is not None and variant.colour_distance < COLOUR_OFF
    assert variant.overall > 0.9 and not variant.defects
    assert drifted.colour_distance is not None and drifted.colour_distance > COLOUR_OFF
    assert "colour off its neighbours" in drifted.reason
    assert with_neighbours(variant, []).colour_distance is None


def test_best_take_picks_the_clean_take_and_says_why(scores: dict[str, TakeScores]) -> None:
    takes = [scores["frozen"], scores["drifted"], scores["variant"], scores["black"]]
    index, reason = best_take(takes)
    assert index == 2
    assert reason.startswith("take 3 scored ")
    assert f"take 1 {scores['frozen'].reason}" in reason
    assert f"take 2 {scores['drifted'].reason}" in reason
    assert "take 4 " in reason and "black 0.5 s" in reason
    assert best_take([TakeScores.model_validate_json(t.model_dump_json()) for t in takes]) == (index, reason)
    assert best_take([scores["clean"], scores["clean"]])[0] == 0  # a tie goes to the earlier take
    frozen = scores["frozen"]
    assert best_take([frozen]) == (0, f"take 1 scored {frozen.overall:.2f} ({frozen.reason}), the only take")
    with pytest.raises(ValueError):
        best_take([])


def test_a_file_that_is_not_a_video_or_cut_short_is_named(takes: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "take.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(MediaError, match="spring s1 take 2"):
        score_take(bad, what="spring s1 take 2")
    whole = takes["clean"].read_bytes()
    bad.write_bytes(whole[: len(whole) // 2])  # the header promises 48 frames; about half are there
    with pytest.raises(MediaError, match=r"spring s1 take 2 \(.*take.mp4\): frame \d+ of 48 does not decode"):
        score_take(bad, takes["source"], what="spring s1 take 2")
