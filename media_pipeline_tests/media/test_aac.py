"""AAC encoded in pieces at once and joined by packet copy sounds and times like one encode (``media.aac``).

The programme sound under test is made to be hard at the joins: a tone that glides, pink noise, and clicks
(window switching) placed right at the piece boundaries. Every piece-joined track is compared with the source PCM
and with a one-piece encode of the same PCM: the same samples timed the same, and around every join no more
error than the codec makes elsewhere (a join that overlapped the wrong frames, or coded a frame from silence,
would show as a click tens of dB above the codec's error).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from media_pipeline.media import aac, cores
from media_pipeline.media.aac import FRAME, encode_aac
from media_pipeline.media.audio import Loudness, encode_sound
from media_pipeline.media.conform import ConformSpec
from media_pipeline.media.ffmpeg import ffmpeg_exe

SPEC = ConformSpec(width=320, height=180, fps=24)
RATE = SPEC.audio_rate
SECONDS = 7.0


def _even(pieces: int) -> list[int]:
    """Where an even split of the 7 s would put the boundaries (samples)."""
    frames = -(-round(SECONDS * RATE) // FRAME)
    return [round(i * frames / pieces) * FRAME for i in range(1, pieces)]


def _boundaries(pcm: Path, pieces: int) -> list[int]:
    return [piece.start for piece in aac.plan_pieces(pcm, pieces)[1:]]


def _write_pcm(out: Path, expression: str, noise: float) -> Path:
    graph = (
        f"aevalsrc='{expression}|{expression}':s={RATE}:d={SECONDS}[a];"
        f"anoisesrc=c=pink:r={RATE}:a={noise}:d={SECONDS}:seed=7,aformat=channel_layouts=stereo[n];"
        "[a][n]amix=inputs=2:normalize=0[m]"
    )
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-filter_complex", graph, "-map", "[m]", "-c:a", "pcm_f32le", str(out)]
    subprocess.run(cmd, check=True)
    return out


def _bursts(times: list[float], amplitude: float, length: float) -> str:
    return "+".join(f"{amplitude}*between(t,{t:.6f},{t + length:.6f})" for t in times)


GLIDE = f"0.3*sin(2*PI*(200+300*t/{SECONDS})*t)"


@pytest.fixture(scope="module")
def pcm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 s of float PCM: a gliding tone and pink noise, with a click where an even split into 3 or 4 pieces
    would put a boundary."""
    clicks = sorted({b / RATE - 0.0005 for n in (3, 4) for b in _even(n)})
    out = tmp_path_factory.mktemp("aac") / "programme.wav"
    return _write_pcm(out, f"{GLIDE}+{_bursts(clicks, 0.9, 0.001)}", noise=0.05)


def _decoded(path: Path) -> np.ndarray:
    """Both channels, (2, samples), float."""
    with av.open(str(path)) as container:
        chunks = [frame.to_ndarray() for frame in container.decode(audio=0)]
    planar = np.concatenate(chunks, axis=1)
    return planar.reshape(-1, 2).T if planar.shape[0] == 1 else planar


def _packets(path: Path) -> tuple[list[int], int | None, bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        pts = [p.pts for p in container.demux(stream) if p.pts is not None]
        return pts, stream.duration, bytes(stream.codec_context.extradata or b"")


def _snr(made: np.ndarray, wanted: np.ndarray, start: int, end: int) -> float:
    error = made[:, start:end] - wanted[:, start:end]
    return float(10 * np.log10((wanted[:, start:end] ** 2).sum() / max((error**2).sum(), 1e-20)))


@pytest.fixture(scope="module")
def whole(pcm: Path) -> Path:
    out = pcm.with_name("whole.m4a")
    assert encode_aac(pcm, out, spec=SPEC, pieces=1) == 1
    return out


def _error_energy(made: np.ndarray, wanted: np.ndarray, start: int, end: int) -> float:
    return float(((made[:, start:end] - wanted[:, start:end]) ** 2).mean())


@pytest.mark.parametrize("pieces", [3, 4])
def test_pieces_join_without_a_seam(pcm: Path, whole: Path, pieces: int) -> None:
    """Around every join the codec's error is what it is just before and just after it: a seam (frames overlapped
    from mismatched windows, or coded from the wrong samples) would stand out by tens of dB."""
    out = pcm.with_name(f"pieces{pieces}.m4a")
    assert encode_aac(pcm, out, spec=SPEC, pieces=pieces) == pieces
    source, one, joined = _decoded(pcm), _decoded(whole), _decoded(out)
    assert joined.shape == one.shape  # the same samples: priming kept once, the padded end once
    for b in _boundaries(pcm, pieces):
        at_join = _error_energy(joined, source, b - FRAME, b + FRAME)
        around = (
            _error_energy(joined, source, b - 5 * FRAME, b - FRAME),
            _error_energy(joined, source, b + FRAME, b + 5 * FRAME),
        )
        ratio_db = 10 * np.log10(at_join / max(around))
        assert ratio_db <= 6, f"join at sample {b}: error {ratio_db:.1f} dB above the frames around it"


@pytest.mark.parametrize("pieces", [2, 3])
def test_pieces_are_timed_like_one_encode(pcm: Path, whole: Path, pieces: int) -> None:
    out = pcm.with_name(f"timed{pieces}.m4a")
    encode_aac(pcm, out, spec=SPEC, pieces=pieces)
    pts, duration, config = _packets(out)
    one_pts, one_duration, one_config = _packets(whole)
    assert pts == one_pts == list(range(-FRAME, -FRAME + FRAME * len(pts), FRAME))  # no gap, no overlap
    assert duration == one_duration
    assert config == one_config


def test_a_limited_gain_is_the_same_in_every_piece(pcm: Path) -> None:
    """A gain that pushes peaks brings the limiter in. A burst just before each boundary leaves the limiter
    releasing across it: each piece's limiter has heard that burst (its lead-in) and gives the same gain there."""
    bursts = [b / RATE - 0.04 for b in _even(3)]
    source = _write_pcm(pcm.with_name("bursts.wav"), f"{GLIDE}+{_bursts(bursts, 0.6, 0.01)}", noise=0.0)
    loud = Loudness(integrated=-30.0, peak=-6.0)  # +14 dB: peaks far past the ceiling without the limiter
    one, joined = pcm.with_name("limited1.m4a"), pcm.with_name("limited3.m4a")
    assert encode_sound(source, loud, one, spec=SPEC, pieces=1) == -16.0
    assert encode_sound(source, loud, joined, spec=SPEC, pieces=3) == -16.0
    a, b = _decoded(one), _decoded(joined)
    assert np.abs(b).max() <= 10 ** (-1.5 / 20) * 1.12  # the ceiling, plus the codec's overshoot
    for boundary in _boundaries(source, 3):
        assert _snr(b, a, boundary - 2 * FRAME, boundary + 2 * FRAME) >= 30, f"join at {boundary} differs"


def test_boundaries_move_off_transients_to_frame_boundaries(pcm: Path) -> None:
    for pieces in (3, 4):
        plan = aac.plan_pieces(pcm, pieces)
        assert plan[0].start == 0 and plan[-1].end == round(SECONDS * RATE)
        for before, after, even in zip(plan, plan[1:], _even(pieces), strict=False):
            assert before.end == after.start and after.start % FRAME == 0
            assert after.read_from == after.start - aac.LEAD_IN and before.read_to == before.end + aac.LEAD_OUT
            assert abs(after.start - even) >= 2 * FRAME, "a boundary stayed on the click"
            assert abs(after.start - even) <= SECONDS * RATE / pieces / 4


def test_a_programme_gets_a_piece_per_core_of_at_least_ten_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "cores", lambda: 4)
    for seconds, expected in [(5, 1), (19.9, 1), (20, 2), (54.5, 4), (600, 4)]:
        assert aac.piece_count(round(seconds * RATE), RATE) == expected, seconds
