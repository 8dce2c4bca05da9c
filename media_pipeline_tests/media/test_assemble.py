"""assemble: clips to master, renditions, poster and contact sheet; stream copy exactly when clips conform."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media_pipeline.media.assemble import AssemblySpec, PosterAt, assemble
from media_pipeline.media.audio import measure_loudness
from media_pipeline.media.conform import ConformSpec, is_conformant
from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import ffmpeg_exe
from media_pipeline.media.frames import read_frame
from media_pipeline.media.probe import probe

from .clips import conformed_clip, dominant_frequency, is_stream_copy, make_clip, marked_clip, video_pts

W, H, FPS = 320, 180, 24
FRAME = 1 / FPS
SPEC = ConformSpec(width=W, height=H, fps=FPS)


@pytest.fixture(scope="module")
def conformant(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("conformant")
    return [
        (name, conformed_clip(folder / f"{name}.mp4", SPEC, seconds=s, frequency=f))
        for name, s, f in (("intro", 1.0, 300), ("middle", 1.5, 500), ("outro", 1.0, 700))
    ]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("mixed")
    return [
        (
            "wide",
            make_clip(
                folder / "wide.mp4",
                width=640,
                height=360,
                fps=30,
                pix_fmt="yuv444p",
                audio_rate=None,
                seconds=1.0,
            ),
        ),
        (
            "boxy",
            make_clip(
                folder / "boxy.mp4",
                width=320,
                height=240,
                fps=25,
                audio_rate=44100,
                channels=1,
                seconds=1.2,
                frequency=500,
            ),
        ),
        ("tall", make_clip(folder / "tall.mp4", width=180, height=320, fps=60, seconds=1.0, frequency=700)),
    ]


def _check_sync(path: Path) -> None:
    info = probe(path)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=FRAME)
    pts = video_pts(path)
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))


def test_cut_of_conformant_clips(conformant: list[tuple[str, Path]], tmp_path: Path) -> None:
    spec = AssemblySpec(width=W, height=H, transition="cut", renditions=["16:9", "9:16", "1:1"])
    result = assemble(conformant, tmp_path, spec=spec, name="demo")

    assert result.stream_copied and result.conformed_shots == []
    assert is_stream_copy(result.master.path, [p for _, p in conformant])
    assert result.duration == pytest.approx(3.5, abs=FRAME / 2)
    assert result.shot_offsets == pytest.approx({"intro": 0.0, "middle": 1.0, "outro": 2.5})
    names = {r.aspect: (r.path.name, r.width, r.height) for r in result.renditions}
    assert names == {
        "16:9": ("demo.mp4", 320, 180),
        "9:16": ("demo_9x16.mp4", 180, 320),
        "1:1": ("demo_1x1.mp4", 180, 180),
    }
    for r in result.renditions:
        info = probe(r.path)
        assert (info.width, info.height) == (r.width, r.height)
        assert r.duration == pytest.approx(3.5, abs=FRAME / 2)
        _check_sync(r.path)
    assert result.master.path == tmp_path / "demo.mp4" and is_conformant(result.master.info, SPEC)
    assert result.measured_lufs == pytest.approx(-21.8, abs=1.5)  # the mix, measured once before the gain
    assert result.loudness_lufs == pytest.approx(-16, abs=1) and measure_loudness(result.master.path) == pytest.approx(
        -16, abs=1
    )
    for name, start in result.shot_offsets.items():  # every shot's sound starts with its pictures
        tone = {"intro": 300, "middle": 500, "outro": 700}[name]
        assert dominant_frequency(result.master.path, start + 0.02, 0.1) == pytest.approx(tone, abs=15)
    with Image.open(result.poster) as poster:
        assert poster.format == "JPEG" and poster.size == (W, H)
    with Image.open(result.contact_sheet) as sheet:
        assert sheet.format == "PNG" and sheet.width >= 2 * 320
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["demo.mp4", "demo_9x16.mp4", "demo_1x1.mp4", "demo_poster.jpg", "demo_contact_sheet.png"]
    )


def test_mixed_clips_are_conformed_not_copied(mixed: list[tuple[str, Path]], tmp_path: Path) -> None:
    spec = AssemblySpec(width=W, height=H, transition="cut", renditions=["16:9"], audio="mute")
    result = assemble(mixed, tmp_path, spec=spec, name="mix")
    assert not result.stream_copied
    assert result.conformed_shots == ["wide", "boxy", "tall"]
    assert result.duration == pytest.approx(1.0 + 29 / 24 + 1.0, abs=FRAME / 2)
    assert result.loudness_lufs is None and measure_loudness(result.master.path) == pytest.approx(-70)
    assert is_conformant(result.master.info, SPEC)
    _check_sync(result.master.path)


def test_one_nonconformant_clip_is_conformed_alone(
    conformant: list[tuple[str, Path]], mixed: list[tuple[str, Path]], tmp_path: Path
) -> None:
    clips = [conformant[0], mixed[0], conformant[2]]
    result = assemble(clips, tmp_path, spec=AssemblySpec(width=W, height=H), name="one")
    assert not result.stream_copied and result.conformed_shots == ["wide"]
    assert result.duration == pytest.approx(3.0, abs=FRAME / 2)


@pytest.mark.parametrize("transition", ["crossfade", "fade_black"])
def test_transitions_with_soundtrack_and_pad(mixed: list[tuple[str, Path]], tmp_path: Path, transition: str) -> None:
    music = tmp_path / "music.wav"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=f=220:d=1", str(music)], check=True)
    spec = AssemblySpec(
        width=W,
        height=H,
        transition=transition,
        transition_seconds=0.25,
        renditions=["9:16", "16:9"],
        fit="pad",
        audio="mute",
        poster=PosterAt(shot="tall", at=0.5),
    )
    result = assemble(mixed, tmp_path / "out", spec=spec, name="x", soundtrack=music)

    expected = (24 + 29 + 24 - 2 * 6) / 24
    assert not result.stream_copied
    assert result.transition_seconds == pytest.approx(0.25)
    assert result.duration == pytest.approx(expected, abs=FRAME / 2)
    assert result.shot_offsets == pytest.approx({"wide": 0.0, "boxy": 0.75, "tall": 0.75 + 29 / 24 - 0.25})
    master, other = result.renditions
    assert (master.aspect, master.path.name, master.width, master.height) == ("9:16", "x.mp4", 180, 320)
    assert (other.aspect, other.path.name, other.width, other.height) == ("16:9", "x_16x9.mp4", 320, 180)
    assert result.loudness_lufs == pytest.approx(-16, abs=1)
    assert dominant_frequency(master.path, 1.0) == pytest.approx(220, abs=15)
    for r in result.renditions:
        assert r.duration == pytest.approx(expected, abs=FRAME / 2)
        _check_sync(r.path)
    poster_at = result.shot_offsets["tall"] + 0.5
    with Image.open(result.poster) as image:
        poster = np.asarray(image.convert("RGB"), dtype=float)
    assert poster.shape == (320, 180, 3)
    wanted = read_frame(master.path, poster_at).astype(float)
    other = read_frame(master.path, 0.1).astype(float)
    assert np.abs(poster - wanted).mean() < 8 < np.abs(poster - other).mean()


def test_missing_clip_names_the_shot(conformant: list[tuple[str, Path]], tmp_path: Path) -> None:
    clips = [conformant[0], ("ghost", tmp_path / "nope.mp4")]
    with pytest.raises(MediaError, match="shot 'ghost'.*nope.mp4"):
        assemble(clips, tmp_path, spec=AssemblySpec(width=W, height=H), name="x")


def test_corrupt_clip_names_the_shot(conformant: list[tuple[str, Path]], tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError, match="shot 'broken'.*bad.mp4"):
        assemble([conformant[0], ("broken", bad)], tmp_path, spec=AssemblySpec(width=W, height=H), name="x")


def test_default_poster_is_a_clean_frame_not_a_transition(conformant: list[tuple[str, Path]], tmp_path: Path) -> None:
    clips = [conformant[0], conformant[2]]  # 1 s each with a 0.5 s crossfade: the midpoint, 0.75 s, is mid-blend
    spec = AssemblySpec(width=W, height=H, transition="crossfade", transition_seconds=0.5)
    result = assemble(clips, tmp_path / "out", spec=spec, name="x")
    assert result.duration == pytest.approx(1.5, abs=FRAME / 2)
    with Image.open(result.poster) as image:
        poster = np.asarray(image.convert("RGB"), dtype=float)
    clean = read_frame(result.master.path, 1.25).astype(float)  # the middle of the outro after the blend
    blended = read_frame(result.master.path, 0.75).astype(float)
    assert np.abs(poster - clean).mean() < 8 < np.abs(poster - blended).mean()


@pytest.mark.slow
def test_one_changed_shot_re_encodes_only_its_segments(tmp_path: Path) -> None:
    spec_ = ConformSpec(width=W, height=H, fps=FPS)
    folder = tmp_path / "clips"
    folder.mkdir()
    clips = [
        (f"s{i}", marked_clip(folder / f"s{i}.mp4", seconds=2.0, spec=spec_, keyframes=(6, 42), tone=400 + 100 * i))
        for i in range(4)
    ]
    spec = AssemblySpec(
        width=W,
        height=H,
        transition="crossfade",
        transition_seconds=0.25,
        renditions=["16:9", "1:1"],
        cache_dir=tmp_path / "cache",
    )
    first = assemble(clips, tmp_path / "first", spec=spec, name="x")
    # master: 3 windows; 1:1: 4 clip pieces + the same 3 windows, each window one ffmpeg run for both outputs
    assert (first.encoded_segments, first.cached_segments) == (7, 0)
    assert first.encoded_frames == 3 * 6 and first.conformed_shots == []
    again = assemble(clips, tmp_path / "again", spec=spec, name="x")
    assert (again.encoded_segments, again.cached_segments) == (0, 7)
    assert again.master.path.read_bytes() == first.master.path.read_bytes()

    clips[2] = ("s2", marked_clip(folder / "new.mp4", seconds=2.0, spec=spec_, keyframes=(6, 42), tone=900))
    changed = assemble(clips, tmp_path / "changed", spec=spec, name="x")
    assert (changed.encoded_segments, changed.cached_segments) == (3, 4)  # its piece and its two windows
    assert changed.duration == pytest.approx(first.duration)
    beep = changed.shot_offsets["s2"] + 1.0  # the new clip's sync beep, at its own pitch
    assert dominant_frequency(changed.master.path, beep + 0.01, 0.06) == pytest.approx(900, abs=20)
    assert dominant_frequency(first.master.path, beep + 0.01, 0.06) == pytest.approx(600, abs=20)
    for r in changed.renditions:
        _check_sync(r.path)
        assert r.info.frame_count == round(changed.duration * FPS)
