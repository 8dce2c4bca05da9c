"""AAC encoded in pieces on every core at once, their packets joined into one seamless track.

On a cut programme the sound's AAC encode is most of the work (the picture is stream-copied, and the level can
only be set by re-encoding), and ffmpeg's AAC encoder uses one core. A programme long enough is cut into
stretches, one per core, each encoded by its own ffmpeg, and the packets are joined by copy.

An AAC-LC packet stamped ``p`` decodes to samples ``[p, p + 1024)``, overlap-added from its own window over
``[p, p + 2048)`` and the previous packet's. So a stretch starts on a frame boundary of the programme; its ffmpeg
reads ``LEAD_OUT`` samples past the stretch (the last packet kept is coded from the real samples after it) and
``LEAD_IN`` before it (the encoder's state, and a limiter's envelope, settle on the same sound as the piece
before), and only the packets of its own stretch are kept. The windows of the two packets meeting at a join
match when both encoders code them long, so each boundary is moved from the even split to the steadiest frame
boundary nearby (a cut between shots or a drum hit could make one encoder switch to short windows and not the
other). The first piece keeps the encoder's priming packet and the last its padded end: the joined track has
the packets, timestamps and decoder set-up of one encode. Tests measure the error at every join against the
codec's own error next to it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import ffmpeg
import numpy as np

from media_pipeline.media import cores
from media_pipeline.media.conform import ConformSpec
from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import run_ffmpeg
from media_pipeline.media.files import atomic_path

FRAME = 1024  # samples per AAC-LC frame
LEAD_IN = 47 * FRAME  # about 1 s at 48 kHz: window decisions and a limiter's envelope settle well within it
LEAD_OUT = 8 * FRAME
MIN_PIECE_SECONDS = 10.0  # shorter stretches are not worth another ffmpeg
STEADY_SEARCH_SECONDS = 2.0  # how far a boundary may move from an even split to a steady spot
BLOCK = 256  # samples per energy block when looking for a steady spot
STEADY_FRAMES = 4  # frames either side of a boundary that must be steady (the frames coded across it, and the
# encoder's look at the frames around them when it picks their windows)
SILENCE = 1e-9  # energy per sample below which sound counts as silence (about -90 dBFS)


@dataclass(frozen=True)
class Piece:
    """Programme samples ``[start, end)`` kept from an encode of ``[read_from, read_to)``."""

    start: int
    end: int
    read_from: int
    read_to: int
    first: bool
    last: bool


def piece_count(samples: int, rate: int) -> int:
    """One piece per core, each at least ``MIN_PIECE_SECONDS`` long."""
    return max(1, min(cores.cores(), int(samples / rate // MIN_PIECE_SECONDS)))


def plan_pieces(pcm: Path, count: int | None = None) -> list[Piece]:
    """The stretches ``pcm`` is encoded in: ``count`` (by default one per core, each at least
    ``MIN_PIECE_SECONDS``), split near even, each boundary moved to the steadiest frame boundary nearby."""
    samples, rate = _length(pcm)
    frames = -(-samples // FRAME)
    count = max(1, min(piece_count(samples, rate) if count is None else count, frames // 8))
    even = [round(i * frames / count) for i in range(1, count)]
    reach = min(round(STEADY_SEARCH_SECONDS * rate / FRAME), frames // count // 4)
    bounds = [0, *(_steadiest(pcm, target, reach) * FRAME for target in even), samples]
    return [
        Piece(
            start=start,
            end=end,
            read_from=max(0, start - LEAD_IN),
            read_to=samples if i == count - 1 else min(samples, end + LEAD_OUT),
            first=i == 0,
            last=i == count - 1,
        )
        for i, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]


def _steadiest(pcm: Path, target: int, reach: int) -> int:
    """The frame number within ``reach`` frames of ``target`` where the sound is steadiest around the boundary.

    A frame boundary is steady when the energy of the 256-sample blocks in the ``STEADY_FRAMES`` frames either
    side hardly varies (silence counts as steady): both encoders then code those frames with long windows, and
    the windows of a join match. A boundary on a transient (a cut between shots, a click) could be coded with a short
    window by one piece's encoder and a long one by the other's, which the decoder cannot overlap cleanly."""
    if reach <= 0:
        return target
    sound = _read(pcm, (target - reach - STEADY_FRAMES) * FRAME, (target + reach + STEADY_FRAMES) * FRAME)
    blocks = (sound[: len(sound) // BLOCK * BLOCK] ** 2).reshape(-1, BLOCK).sum(axis=1) + BLOCK * SILENCE
    per_frame = FRAME // BLOCK
    windows = np.lib.stride_tricks.sliding_window_view(blocks, 2 * STEADY_FRAMES * per_frame)[::per_frame]
    spread = windows.max(axis=1) / np.median(windows, axis=1)
    candidates = np.arange(len(spread)) + target - reach
    return int(candidates[int(np.argmin(spread + 1e-3 * np.abs(candidates - target)))])


def _read(pcm: Path, start: int, end: int) -> np.ndarray:
    """Samples ``[start, end)`` of ``pcm``, channels summed (only how the energy moves matters here)."""
    with av.open(str(pcm)) as src:
        stream = src.streams.audio[0]
        src.seek(start, stream=stream)
        parts, at = [], None
        for frame in src.decode(stream):
            at = frame.pts if at is None else at
            parts.append(frame.to_ndarray().reshape(-1, frame.layout.nb_channels).sum(axis=1))
            if frame.pts + frame.samples >= end:
                break
    if at is None or at > start:
        raise MediaError(f"{pcm}: cannot read samples from {start}")
    return np.concatenate(parts)[start - at : end - at]


def _length(pcm: Path) -> tuple[int, int]:
    """``(samples, rate)`` of a PCM file."""
    with av.open(str(pcm)) as src:
        stream = src.streams.audio[0]
        if stream.duration is None or stream.time_base != Fraction(1, stream.rate):
            raise MediaError(f"{pcm}: not a PCM file with a known length")
        return int(stream.duration), stream.rate


def encode_aac(
    pcm: Path,
    out: Path,
    *,
    spec: ConformSpec,
    chain: Callable[[Any], Any] = lambda sound: sound,
    pieces: int | None = None,
) -> int:
    """Encode the PCM file ``pcm`` (through ``chain``, filters applied to its sound) to AAC at ``out`` (.m4a)
    with ``spec``'s audio settings, in ``pieces`` stretches at once (None: one per core, at least
    ``MIN_PIECE_SECONDS`` each); returns how many were encoded."""
    plan = plan_pieces(pcm, pieces)
    scratch = Path(tempfile.mkdtemp(prefix=".aac-", dir=Path(out).parent))
    try:

        def encode(index: int, piece: Piece) -> Path:
            sound = ffmpeg.input(str(pcm)).audio
            if len(plan) > 1:
                sound = sound.filter("atrim", start_sample=piece.read_from, end_sample=piece.read_to)
                sound = sound.filter("asetpts", "PTS-STARTPTS")
            encoded = scratch / f"{index}.m4a"
            run_ffmpeg(ffmpeg.output(chain(sound), str(encoded), **spec.audio_args()), what=f"encode sound {out}")
            return encoded

        with ThreadPoolExecutor(max_workers=len(plan)) as pool:
            encoded = list(pool.map(encode, range(len(plan)), plan))
        if len(plan) == 1:
            shutil.move(encoded[0], out)
        else:
            _join(list(zip(plan, encoded, strict=True)), Path(out))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return len(plan)


def _join(pieces: list[tuple[Piece, Path]], out: Path) -> None:
    """Each piece's own packets, re-timed onto the programme, in one AAC track at ``out``."""
    with atomic_path(out) as tmp, av.open(str(tmp), "w", format="mp4") as dst:
        stream = None
        for piece, path in pieces:
            with av.open(str(path)) as src:
                source = src.streams.audio[0]
                if source.time_base != Fraction(1, source.rate):
                    raise MediaError(f"encode sound {out}: piece {path.name} is not timed in samples")
                if stream is None:
                    stream = dst.add_stream_from_template(source)
                    stream.time_base = source.time_base
                shift = piece.read_from
                for packet in src.demux(source):
                    if packet.pts is None:  # the demuxer's end-of-stream marker
                        continue
                    at = packet.pts + shift
                    if (at < piece.start and not piece.first) or (at >= piece.end and not piece.last):
                        continue
                    packet.pts = packet.dts = at
                    packet.stream = stream
                    dst.mux(packet)
