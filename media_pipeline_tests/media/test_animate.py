"""animate: exact spec (size, frames, codecs, audio), first frame = source, moves go where the prompt says."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from media_pipeline.media.animate import animate_still
from media_pipeline.media.camera import CAMERA_MOVES, camera_move
from media_pipeline.media.conform import ConformSpec
from media_pipeline.media.errors import MediaError
from media_pipeline.media.formats import frame_size
from media_pipeline.media.frames import read_frame
from media_pipeline.media.images import cover_crop
from media_pipeline.media.probe import probe
from media_pipeline.media.quality import first_frame_fidelity, ssim
from media_pipeline.media.stitch import encoder_config

from .clips import programme

TINY = "180p"  # 320x180 at 16:9: fast to render, big enough for SSIM


def picture(path: Path, size: tuple[int, int] = (480, 300), *, marker: bool = True, seed: int = 0) -> Path:
    """A gradient with shapes (so SSIM means something) and, optionally, a white square at the centre."""
    w, h = size
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 160, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 160, h, dtype=np.float32)[:, None].repeat(w, 1)
    img = Image.fromarray(np.stack([x, y, 160 - x], -1).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(8, h // 6)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tuple(int(v) for v in rng.integers(0, 170, 3)))
    if marker:
        s = h // 10
        draw.rectangle([w // 2 - s, h // 2 - s, w // 2 + s, h // 2 + s], fill=(255, 255, 255))
    img.save(path)
    return path


def _marker(frame: np.ndarray) -> tuple[float, float, int]:
    """Centroid (x, y) and area of the white marker in a frame."""
    ys, xs = np.nonzero(frame.min(axis=2) > 215)
    return float(xs.mean()), float(ys.mean()), len(xs)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return picture(tmp_path_factory.mktemp("render") / "source.png")


@pytest.fixture(scope="module")
def clip(source: Path) -> Path:
    return animate_still(
        source,
        source.with_name("clip.mp4"),
        prompt="Slow push-in on the hero",
        duration=2,
        resolution=TINY,
        aspect_ratio="16:9",
    )


@pytest.mark.parametrize(
    ("prompt", "move"),
    [
        ("A slow PUSH-IN on the bottle", "zoom_in"),
        ("camera pushes in", "zoom_in"),
        ("zoom in on her face", "zoom_in"),
        ("Dolly-in, golden hour", "zoom_in"),
        ("pull-back to reveal the city", "zoom_out"),
        ("slow pull back", "zoom_out"),
        ("Zoom Out", "zoom_out"),
        ("dolly out", "zoom_out"),
        ("pan left across the shelf", "pan_left"),
        ("Pan right", "pan_right"),
        ("tilt up to the sky", "tilt_up"),
        ("TILT DOWN to the floor", "tilt_down"),
        ("a calm ocean at dusk", "drift"),
        ("", "drift"),
        ("zoom in then pan left", "zoom_in"),  # the first named move wins
        ("pan left, then zoom in", "pan_left"),
        ("a panorama of the inner city", "drift"),  # no false positives inside words
    ],
)
def test_camera_move_parsing(prompt: str, move: str) -> None:
    assert camera_move(prompt) == move


def test_clip_meets_the_spec(clip: Path) -> None:
    info = probe(clip)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height) == frame_size(TINY, "16:9") == (320, 180)
    assert info.fps == 24.0
    assert info.frame_count == 48
    assert info.video_duration == pytest.approx(2.0, abs=1e-3)
    assert (info.audio_codec, info.audio_rate, info.audio_channels) == ("aac", 48000, 2)
    assert info.audio_duration == pytest.approx(2.0, abs=0.03)
    atoms = _top_level_atoms(clip)
    assert atoms.index("moov") < atoms.index("mdat")  # +faststart


def _top_level_atoms(path: Path) -> list[str]:
    data, names, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        names.append(data[pos + 4 : pos + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
    return names


def test_audio_is_a_quiet_tone_not_silence(clip: Path) -> None:
    import av

    with av.open(str(clip)) as container:
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    assert 1e-4 < rms < 0.05


def test_frame_count_is_rounded_duration_times_fps(source: Path, tmp_path: Path) -> None:
    out = animate_still(source, tmp_path / "odd.mp4", prompt="", duration=1.03, resolution=TINY, aspect_ratio="1:1")
    info = probe(out)
    assert info.frame_count == round(1.03 * 24) == 25
    assert (info.width, info.height) == (180, 180)


@pytest.mark.parametrize("move", CAMERA_MOVES)
def test_first_frame_is_the_source_and_the_camera_moves(source: Path, tmp_path: Path, move: str) -> None:
    prompt = move.replace("_", " ") if move != "drift" else "still life"
    out = animate_still(
        source, tmp_path / f"{move}.mp4", prompt=prompt, duration=1, resolution=TINY, aspect_ratio="16:9"
    )
    assert first_frame_fidelity(out, source) >= 0.9
    first, last = read_frame(out, "first"), read_frame(out, "last")
    assert ssim(first, last) < 0.97  # it moved
    (x0, y0, a0), (x1, y1, a1) = _marker(first), _marker(last)
    expected = {
        "zoom_in": a1 > a0 * 1.15,
        "zoom_out": a1 < a0 * 0.9,
        "pan_left": x1 > x0 + 5,  # camera left: the scene slides right
        "pan_right": x1 < x0 - 5,
        "tilt_up": y1 > y0 + 3,  # camera up: the scene slides down
        "tilt_down": y1 < y0 - 3,
        "drift": a1 > a0,
    }
    assert expected[move], (move, (x0, y0, a0), (x1, y1, a1))


def test_motion_is_smooth(clip: Path) -> None:
    import av

    with av.open(str(clip)) as container:
        areas = [_marker(f.to_ndarray(format="rgb24"))[2] for f in container.decode(video=0)]
    steps = np.diff(areas)
    assert (steps >= -40).all()  # a zoom in never visibly backs off (jitter would)
    assert areas[-1] > areas[0]


def test_other_aspect_is_cover_cropped(source: Path, tmp_path: Path) -> None:
    out = animate_still(
        source, tmp_path / "tall.mp4", prompt="tilt up", duration=1, resolution=TINY, aspect_ratio="9:16"
    )
    info = probe(out)
    assert (info.width, info.height) == (180, 320)
    assert first_frame_fidelity(out, source) >= 0.9


def test_end_image_is_the_last_frame(source: Path, tmp_path: Path) -> None:
    end = picture(tmp_path / "end.png", (400, 400), marker=False, seed=5)
    out = animate_still(
        source,
        tmp_path / "pinned.mp4",
        prompt="pan right",
        duration=2,
        resolution=TINY,
        aspect_ratio="16:9",
        end_image=end,
    )
    expected_end = np.asarray(cover_crop(Image.open(end).convert("RGB"), (320, 180)))
    assert ssim(read_frame(out, "last"), expected_end) >= 0.9
    assert first_frame_fidelity(out, source) >= 0.9
    assert ssim(read_frame(out, 0.5), expected_end) < 0.8  # the dissolve is only at the end
    assert probe(out).frame_count == 48


def test_unreadable_image_raises_media_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"nope")
    with pytest.raises(MediaError, match="broken.png"):
        animate_still(bad, tmp_path / "x.mp4", prompt="", duration=1, resolution=TINY, aspect_ratio="16:9")
    assert not (tmp_path / "x.mp4").exists()


def test_bad_parameters(source: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resolution"):
        animate_still(source, tmp_path / "x.mp4", prompt="", duration=1, resolution="4k", aspect_ratio="16:9")
    with pytest.raises(ValueError, match="aspect"):
        animate_still(source, tmp_path / "x.mp4", prompt="", duration=1, resolution=TINY, aspect_ratio="5:4")
    with pytest.raises(MediaError):
        animate_still(source, tmp_path / "x.mp4", prompt="", duration=0, resolution=TINY, aspect_ratio="16:9")


def test_animated_clips_join_by_stream_copy(clip: Path, source: Path, tmp_path: Path) -> None:
    """The animator encodes as conform does, so its clips are copied into a programme, never conformed."""
    spec = ConformSpec(width=320, height=180, fps=24)
    other = animate_still(
        source, tmp_path / "b.mp4", prompt="pan left", duration=1, resolution=TINY, aspect_ratio="16:9"
    )
    assert probe(clip).video_config == probe(other).video_config == encoder_config(spec)
    result = programme([clip, other], tmp_path / "cut", transition="cut", spec=spec)
    assert result.stream_copied and result.encoded_frames == 0


def test_fractional_rates_are_exact(source: Path, tmp_path: Path) -> None:
    out = animate_still(
        source, tmp_path / "ntsc.mp4", prompt="", duration=2, resolution=TINY, aspect_ratio="16:9", fps=29.97
    )
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)
    info = probe(out)
    assert info.frame_count == 60 and info.video_duration == pytest.approx(60 * 1001 / 30000, abs=1e-3)
    assert probe(out).video_config == encoder_config(ConformSpec(width=320, height=180, fps=29.97))
