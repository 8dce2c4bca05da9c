"""Synthetic test clips made with ffmpeg's lavfi sources (testsrc2 pictures, sine tones), fast and offline."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np

from media_pipeline.media.conform import ConformSpec, conform
from media_pipeline.media.ffmpeg import ffmpeg_exe


def make_clip(
    out: Path,
    *,
    width: int = 320,
    height: int = 180,
    fps: float = 24,
    seconds: float = 1.0,
    pix_fmt: str = "yuv420p",
    audio_rate: int | None = 48000,
    channels: int = 2,
    frequency: int = 440,
    audio_seconds: float | None = None,
    gop: int | None = None,
    crf: int = 28,
) -> Path:
    """Write an H.264 test clip (AAC unless ``audio_rate`` is None); ``audio_seconds`` can make A/V differ.

    With the defaults (and ``gop=48``) the clip has the shape ``conform`` produces for a 320x180@24 spec.
    """
    layout = "stereo" if channels == 2 else "mono"
    cmd = [
        ffmpeg_exe(),
        "-y",
        "-v",
        "error",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=s={width}x{height}:r={fps}:d={seconds}",
    ]
    if audio_rate:
        a_seconds = seconds if audio_seconds is None else audio_seconds
        cmd += [
            "-f",
            "lavfi",
            "-i",
            f"sine=f={frequency}:r={audio_rate}:d={a_seconds},aformat=channel_layouts={layout}",
        ]
    cmd += ["-map", "0:v"] + (["-map", "1:a", "-c:a", "aac", "-b:a", "128k"] if audio_rate else [])
    cmd += [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        str(crf),
        "-pix_fmt",
        pix_fmt,
        "-g",
        str(gop or int(2 * fps)),
        "-movflags",
        "+faststart",
        str(out),
    ]
    subprocess.run(cmd, check=True)
    return out


def video_pts(path: Path) -> list[int]:
    """Presentation timestamps of every decoded video frame, in decode order."""
    with av.open(str(path)) as container:
        return [frame.pts for frame in container.decode(video=0)]


def dominant_frequency(path: Path, start: float, seconds: float = 0.1) -> float:
    """The strongest frequency (Hz) of the first audio channel in ``[start, start + seconds)``."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        samples = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(stream)])
    first = int(start * rate)
    window = samples[first : first + int(seconds * rate)]
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    return float(np.argmax(spectrum) * rate / len(window))


def rms_db(path: Path, start: float, seconds: float) -> float:
    """RMS level (dBFS) of the first audio channel in ``[start, start + seconds)``."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        samples = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(stream)])
    window = samples[int(start * rate) : int((start + seconds) * rate)]
    return float(20 * np.log10(np.sqrt(np.mean(np.square(window))) + 1e-12))


def video_packets(*paths: Path) -> list[bytes]:
    """Every video packet payload of ``paths`` in turn: what a stream copy must reproduce."""
    packets: list[bytes] = []
    for path in paths:
        with av.open(str(path)) as container:
            packets += [bytes(packet) for packet in container.demux(video=0) if packet.size]
    return packets


def _without_parameter_sets(packet: bytes) -> bytes:
    """An MP4 (length-prefixed) H.264 packet without in-band SPS/PPS NAL units."""
    kept, at = [], 0
    while at + 4 <= len(packet):
        size = int.from_bytes(packet[at : at + 4], "big")
        unit = packet[at : at + 4 + size]
        if unit[4] & 0x1F not in (7, 8):
            kept.append(unit)
        at += 4 + size
    return b"".join(kept)


def is_stream_copy(programme: Path, clips: list[Path]) -> bool:
    """True when ``programme``'s video packets are the clips' packets, in order and unchanged.

    The concat demuxer repeats the H.264 parameter sets in-band at each file's first keyframe, so those NAL
    units are ignored in the comparison.
    """
    made, given = video_packets(programme), video_packets(*clips)
    return len(made) == len(given) and all(
        _without_parameter_sets(m) == _without_parameter_sets(g) for m, g in zip(made, given, strict=True)
    )


def conformed_clip(out: Path, spec: ConformSpec, *, seconds: float = 1.0, frequency: int = 440) -> Path:
    """A clip exactly as ``conform`` writes it for ``spec``, with a ``frequency`` Hz tone to know it by."""
    raw = make_clip(
        out.with_name(out.stem + ".raw.mp4"),
        width=spec.width,
        height=spec.height,
        fps=spec.fps,
        seconds=seconds,
        frequency=frequency,
    )
    return conform(raw, out, spec)
