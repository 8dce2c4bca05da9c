"""Synthetic test clips made with ffmpeg's lavfi sources (testsrc2 pictures, sine tones), fast and offline."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from media_pipeline.media.assemble import Assembly, AssemblySpec, assemble
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


def marked_clip(
    out: Path,
    *,
    seconds: float,
    spec: ConformSpec | None = None,
    keyframes: tuple[int, ...] = (),
    width: int = 320,
    height: int = 180,
    fps: str = "24",
    flash_at: float = 1.0,
    tone: int = 1000,
) -> Path:
    """A clip with a sync mark: white frames from ``flash_at`` s (0.2 s) and a ``tone`` Hz beep starting at the
    same instant over a quiet 200 Hz bed; ``flash_at`` is moved onto the clip's own frame grid.

    With ``spec`` it is encoded exactly as our encoder writes (stream-copyable; ``keyframes`` forced, else only
    the regular GOP, i.e. keyframes where transitions do not want them); without, as a foreign ultrafast x264
    clip of ``width`` x ``height`` at ``fps``.
    """
    rate = Fraction(str(spec.fps)) if spec else Fraction(fps)
    first = round(flash_at * rate)
    start = float(first / rate)
    size = f"{spec.width}x{spec.height}" if spec else f"{width}x{height}"
    mark = f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='between(n,{first},{first + round(0.2 * rate) - 1})'"
    beep = f"if(between(t,{start:.6f},{start + 0.08:.6f}),0.5*sin(2*PI*{tone}*t),0.02*sin(2*PI*200*t))"
    if spec:  # the frame tags every encode of ours sets (``conform.encoder_input``)
        mark += ",setsar=1,format=yuv420p,setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709"
    cmd = [ffmpeg_exe(), "-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}:d={seconds}"]
    cmd += ["-f", "lavfi", "-i", f"aevalsrc='{beep}':s=48000:c=stereo:d={seconds}", "-vf", mark, "-shortest"]
    if spec:
        args = {**spec.video_args(keyframes), **spec.audio_args()}
        cmd += [a for key, value in args.items() for a in (f"-{key}", str(value))]
    else:
        cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-c:a", "aac"]
    subprocess.run([*cmd, "-frames:v", str(round(seconds * rate)), str(out)], check=True)
    return out


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every video frame of ``path`` as RGB arrays, decoded with PyAV from start to end."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def decoded_sound(path: Path) -> tuple[np.ndarray, int]:
    """The first audio channel of ``path`` and its sample rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        return np.concatenate([frame.to_ndarray()[0] for frame in container.decode(stream)]), rate


def packet_timestamps(path: Path) -> list[tuple[int, int]]:
    """``(dts, pts)`` of every video packet as ffmpeg's own demuxer reports them (``framecrc``), in file order."""
    listing = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v", "-c", "copy", "-f", "framecrc", "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = [line.split(",") for line in listing.splitlines() if line and not line.startswith("#")]
    return [(int(row[1]), int(row[2])) for row in rows]


def programme(
    clips: list[Path],
    folder: Path,
    *,
    spec: ConformSpec,
    transition: str = "cut",
    transition_seconds: float = 0.5,
    names: list[str] | None = None,
) -> Assembly:
    """``clips`` joined in order by ``assemble`` (the master alone) into ``folder/programme.mp4``."""
    names = names or [f"clip {i + 1}" for i in range(len(clips))]
    deliverable = AssemblySpec(
        width=spec.width, height=spec.height, fps=spec.fps, transition=transition, transition_seconds=transition_seconds
    )
    return assemble(list(zip(names, clips, strict=True)), folder, spec=deliverable, name="programme")
