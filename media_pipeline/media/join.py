"""Join H.264 pieces into one MP4 video track by packet copy: the last step of smart rendering.

Each ``Segment`` names frames ``[first, end)`` of a file; the segments are laid end to end. Packets are copied
unchanged and only re-timed, so the output's timestamps run on without a gap: every packet keeps its own
decode-to-presentation delay, and segments encoded with the same configuration share that delay, so decode
timestamps stay strictly increasing across every join. A segment must start on a keyframe and end on one (or
at its file's end), and every file must carry the same parameter sets (SPS/PPS): one header then describes
the whole stream. Any of these broken is a ``MediaError`` rather than a file that plays wrongly.
"""

from __future__ import annotations

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


def join(segments: list[Segment], out: Path, fps: Fraction) -> Path:
    """Write ``segments`` one after another as the video track of ``out`` (MP4); returns ``out``.

    The index stays at the end (no +faststart rewrite): the file is an intermediate that ``mux`` finishes."""
    if not segments:
        raise MediaError(f"join to {out}: nothing to join")
    out = Path(out)
    with atomic_path(out) as tmp:
        with av.open(str(tmp), "w", format="mp4") as dst:
            _copy_all(segments, dst, fps, out)
    return out


def _copy_all(segments: list[Segment], dst: av.container.OutputContainer, fps: Fraction, out: Path) -> None:
    stream = None
    header = b""
    at = 0  # programme frame where the next segment starts
    last_dts: int | None = None
    for segment in segments:
        with av.open(str(segment.path)) as src:
            source = src.streams.video[0]
            config = bytes(source.codec_context.extradata or b"")
            if stream is None:
                stream, header = dst.add_stream_from_template(source), config
                stream.time_base = source.time_base
            elif config != header:
                raise MediaError(
                    f"join to {out}: {segment.path} was encoded with other H.264 parameters than the first piece"
                )
            copied, last_dts = _copy(segment, source, src, stream, dst, fps, at, last_dts, out)
        if copied != segment.end - segment.first:
            raise MediaError(
                f"join to {out}: {segment.path} frames {segment.first}..{segment.end} gave {copied} packets "
                "(the piece does not start and end on keyframes)"
            )
        at += copied


def _copy(
    segment: Segment,
    source: av.VideoStream,
    src: av.container.InputContainer,
    stream: av.VideoStream,
    dst: av.container.OutputContainer,
    fps: Fraction,
    at: int,
    last_dts: int | None,
    out: Path,
) -> tuple[int, int | None]:
    """Copy one segment's packets re-timed to start at programme frame ``at``; returns (packets, last dts)."""
    in_tb, out_tb = Fraction(source.time_base), Fraction(stream.time_base)
    shift = Fraction(at - segment.first) / fps  # seconds added to every timestamp of this segment
    copied = 0
    for packet in src.demux(source):
        if not packet.size or packet.pts is None:
            continue
        index = round(packet.pts * in_tb * fps)
        if not segment.first <= index < segment.end:
            continue
        if copied == 0 and not packet.is_keyframe:
            raise MediaError(f"join to {out}: {segment.path} frame {segment.first} is not a keyframe")
        dts = packet.dts if packet.dts is not None else packet.pts
        packet.pts = round((packet.pts * in_tb + shift) / out_tb)
        packet.dts = round((dts * in_tb + shift) / out_tb)
        if last_dts is not None and packet.dts <= last_dts:
            raise MediaError(f"join to {out}: decode timestamps go back at {segment.path} frame {index}")
        packet.time_base = out_tb
        packet.stream = stream
        dst.mux(packet)
        last_dts = packet.dts
        copied += 1
    return copied, last_dts
