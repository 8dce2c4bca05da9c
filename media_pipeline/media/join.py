"""Join H.264 pieces into one MP4 by packet copy, and cut one file into pieces: the last step of smart rendering.

Each ``Segment`` names frames ``[first, end)`` of a file; ``join`` lays them end to end. Packets are copied
unchanged and only re-timed, so the output's timestamps run on without a gap: every packet keeps its own
decode-to-presentation delay, and segments encoded with the same configuration share that delay, so decode
timestamps stay strictly increasing across every join. A segment must start on a keyframe and end on one (or
at its file's end), and every file must carry the same parameter sets (SPS/PPS): one header then describes
the whole stream. Any of these broken is a ``MediaError`` rather than a file that plays wrongly. ``split`` is
the reverse: one pass over a file, each stretch written to its own file (cache entries).

Timestamps are whole numbers: a packet's frame is read and re-timed with integer arithmetic, and each file is
read from the keyframe before its first frame up to its last one only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from media_pipeline.media.errors import MediaError
from media_pipeline.media.files import atomic_path


@dataclass(frozen=True)
class Segment:
    """Frames ``[first, end)`` of ``path`` (frame numbers at the programme's rate)."""

    path: Path
    first: int
    end: int


class _Clock:
    """Frame numbers of a stream's timestamps at ``fps``, and timestamps moved into another time base."""

    def __init__(self, time_base: Fraction, fps: Fraction) -> None:
        self.tb = Fraction(time_base)
        self._num = self.tb.numerator * fps.numerator
        self._den = self.tb.denominator * fps.denominator
        self.fps = fps

    def frame(self, ts: int) -> int:
        """The frame a timestamp falls on (rounded to the nearest)."""
        return (2 * ts * self._num + self._den) // (2 * self._den)

    def ticks(self, frame: int) -> int:
        """The timestamp of ``frame`` (rounded down)."""
        return frame * self._den // self._num


def _retimer(src: _Clock, out_tb: Fraction, frames: int) -> int | None:
    """How to move a timestamp from ``src`` into ``out_tb``, shifted by ``frames`` frames: an integer offset
    when the time bases agree and the shift is whole ticks (always, for pieces we encode)."""
    shift = Fraction(frames) / src.fps / out_tb
    if src.tb == out_tb and shift.denominator == 1:
        return shift.numerator
    return None


def _moved(ts: int, src: _Clock, out_tb: Fraction, frames: int, offset: int | None) -> int:
    if offset is not None:
        return ts + offset
    return round((ts * src.tb + Fraction(frames) / src.fps) / out_tb)


def _packets(
    container: av.container.InputContainer, stream: av.VideoStream, clock: _Clock, first: int, end: int
) -> Iterator[tuple[int, av.Packet]]:
    """``(frame, packet)`` of the frames ``[first, end)`` in decode order, reading only as far as needed."""
    if first > 0:
        container.seek(clock.ticks(first), stream=stream, backward=True, any_frame=False)
    for packet in container.demux(stream):
        if not packet.size or packet.pts is None:
            continue
        if packet.dts is not None and clock.frame(packet.dts) >= end:
            return  # decode order: every later packet shows at or after this one's decode time
        index = clock.frame(packet.pts)
        if first <= index < end:
            yield index, packet


def join(segments: list[Segment], out: Path, fps: Fraction) -> Path:
    """Write ``segments`` one after another as the video track of ``out`` (MP4); returns ``out``.

    The index stays at the end (no +faststart rewrite): the file is an intermediate that ``mux`` finishes."""
    if not segments:
        raise MediaError(f"join to {out}: nothing to join")
    out = Path(out)
    with atomic_path(out) as tmp, av.open(str(tmp), "w", format="mp4") as dst:
        video = _Video(dst, out, Fraction(fps))
        for segment in segments:
            video.copy(segment)
    return out


class _Video:
    """The output's one video stream, fed segment after segment."""

    def __init__(self, dst: av.container.OutputContainer, out: Path, fps: Fraction) -> None:
        self.dst, self.out, self.fps = dst, out, fps
        self.stream: av.VideoStream | None = None
        self.header = b""
        self.at = 0  # programme frame where the next segment starts
        self.last_dts: int | None = None

    def copy(self, segment: Segment) -> None:
        with av.open(str(segment.path)) as src:
            source = src.streams.video[0]
            config = bytes(source.codec_context.extradata or b"")
            if self.stream is None:
                self.stream, self.header = self.dst.add_stream_from_template(source), config
                self.stream.time_base = source.time_base
            elif config != self.header:
                raise MediaError(
                    f"join to {self.out}: {segment.path} was encoded with other H.264 parameters than the first piece"
                )
            copied = self._copy(segment, src, source)
        if copied != segment.end - segment.first:
            raise MediaError(
                f"join to {self.out}: {segment.path} frames {segment.first}..{segment.end} gave {copied} packets "
                "(the piece does not start and end on keyframes)"
            )
        self.at += copied

    def _copy(self, segment: Segment, src: av.container.InputContainer, source: av.VideoStream) -> int:
        assert self.stream is not None
        clock, out_tb = _Clock(source.time_base, self.fps), Fraction(self.stream.time_base)
        frames = self.at - segment.first
        offset = _retimer(clock, out_tb, frames)
        copied = 0
        for index, packet in _packets(src, source, clock, segment.first, segment.end):
            if copied == 0 and not packet.is_keyframe:
                raise MediaError(f"join to {self.out}: {segment.path} frame {segment.first} is not a keyframe")
            dts = packet.dts if packet.dts is not None else packet.pts
            packet.pts = _moved(packet.pts, clock, out_tb, frames, offset)
            packet.dts = _moved(dts, clock, out_tb, frames, offset)
            if self.last_dts is not None and packet.dts <= self.last_dts:
                raise MediaError(f"join to {self.out}: decode timestamps go back at {segment.path} frame {index}")
            packet.time_base = out_tb
            packet.stream = self.stream
            self.dst.mux(packet)
            self.last_dts = packet.dts
            copied += 1
        return copied


def split(source: Path, pieces: list[tuple[int, int, Path]], fps: Fraction) -> None:
    """Write frames ``[first, end)`` of ``source`` to each piece's own file, in one pass over ``source``.

    The pieces follow each other, each starting on a keyframe (``source`` was encoded with keyframes there)."""
    source = Path(source)
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        clock = _Clock(stream.time_base, Fraction(fps))
        packets = _packets(src, stream, clock, pieces[0][0], pieces[-1][1])
        pending = next(packets, None)
        for first, end, path in pieces:
            with atomic_path(path) as tmp:
                with av.open(str(tmp), "w", format="mp4") as dst:
                    piece = dst.add_stream_from_template(stream)
                    piece.time_base = stream.time_base
                    shift, copied = clock.ticks(first), 0
                    while pending is not None and pending[0] < end:
                        index, packet = pending
                        if copied == 0 and (index != first or not packet.is_keyframe):
                            raise MediaError(f"split of {source}: frame {first} is not a keyframe")
                        dts = packet.dts if packet.dts is not None else packet.pts
                        packet.pts, packet.dts = packet.pts - shift, dts - shift
                        packet.stream = piece
                        dst.mux(packet)
                        copied += 1
                        pending = next(packets, None)
                if copied != end - first:
                    raise MediaError(f"split of {source}: frames {first}..{end} gave {copied} packets")
