"""The local animator: ``animate_still`` turns a still image into a short clip with a camera move from the prompt.

It stands in for an image-to-video model (the local generator and the xAI emulator both use it), so it keeps
the model's contract: the first frame is the source image, the clip has exactly ``round(duration * fps)``
frames at the requested size, and with ``end_image`` the last frame is that image.

Frames are drawn with Pillow (a float crop box resampled to the frame: sub-pixel smooth, unlike ``zoompan``; the
move's canvas and crop boxes come from ``camera``) and piped as raw RGB into one ffmpeg process that encodes H.264
and adds a soft pink-noise ambience. It encodes with the conform spec's own settings (``ConformSpec.video_args``:
codec, profile, pixel format, BT.709 tags, GOP), so its clips join a deliverable by stream copy, without being
conformed.
"""

from __future__ import annotations

import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import ffmpeg
from PIL import Image

from media_pipeline.media.camera import Box, camera_canvas, camera_move, camera_view
from media_pipeline.media.conform import COLOUR, ConformSpec, encoder_input, exact_rate
from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import ffmpeg_args
from media_pipeline.media.files import atomic_path
from media_pipeline.media.formats import FPS, frame_size
from media_pipeline.media.images import cover_crop, load_rgb

DISSOLVE_SECONDS = 1.0  # cross-dissolve to ``end_image``: at most this, at most 40 % of the clip
AMBIENCE_AMPLITUDE = 0.02  # pink noise, about -34 dBFS before the low-pass: present but quiet


def _frames(
    canvas: Image.Image,
    view: Callable[[float], Box],
    size: tuple[int, int],
    count: int,
    end: Image.Image | None,
    dissolve: int,
) -> Iterator[bytes]:
    """Raw RGB24 frames: the moving view, dissolving into ``end`` over the last ``dissolve`` frames."""
    for i in range(count):
        x, y, w, h = view(i / (count - 1) if count > 1 else 0.0)
        frame = canvas.resize(size, Image.Resampling.BILINEAR, box=(x, y, x + w, y + h))
        if end is not None:
            # 0 .. dissolve-1 inside the dissolve; the last frame is all ``end``.
            into = i - (count - dissolve)
            if into >= 0:
                frame = Image.blend(frame, end, (into + 1) / dissolve)
        yield frame.tobytes()


def _prefetch(items: Iterator[bytes], depth: int = 4) -> Iterator[bytes]:
    """Iterate ``items`` in a background thread, ``depth`` ahead.

    Pillow releases the GIL while resampling, so drawing the next frame overlaps writing this one to ffmpeg:
    about 1.6x faster than drawing and writing in turn on two cores.
    """
    done = object()
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    worker = threading.Thread(target=produce, name="animate-frames", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def _encode(
    frames: Iterator[bytes], out: Path, size: tuple[int, int], fps: Fraction, count: int, source: Path, audio: bool
) -> None:
    """Encode raw frames and (``audio``) a quiet stereo ambience of exactly ``count / fps`` s to ``out``,
    atomically; without ``audio`` the clip has no audio stream (xAI's ``generate_audio=False``)."""
    spec = ConformSpec(width=size[0], height=size[1], fps=fps)
    seconds = spec.seconds(count)
    video = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{size[0]}x{size[1]}", framerate=str(fps)).filter(
            "scale", out_color_matrix=COLOUR, out_range="tv"
        )  # HD matrix, and say so in the stream
    )
    video = encoder_input(video)
    noise = f"anoisesrc=d={seconds:.6f}:c=pink:r={spec.audio_rate}:a={AMBIENCE_AMPLITUDE}:s=7"
    ambience = (
        ffmpeg.input(noise, f="lavfi")
        .filter("lowpass", f=900)
        .filter("afade", t="in", d=min(0.05, seconds / 4))
        .filter("afade", t="out", st=max(0.0, seconds - 0.05), d=min(0.05, seconds / 4))
        .filter("aformat", channel_layouts=spec.layout, sample_rates=spec.audio_rate)
    )
    streams, audio_args = ([video, ambience], spec.audio_args()) if audio else ([video], {})
    with atomic_path(out) as tmp:
        graph = ffmpeg.output(
            *streams,
            str(tmp),
            **spec.video_args(),
            **audio_args,
            **{"frames:v": count, "movflags": "+faststart", "f": "mp4"},
        )
        _feed(ffmpeg_args(graph), frames, source, out)


def _feed(args: list[str], frames: Iterator[bytes], source: Path, out: Path) -> None:
    """Run the encoder ``args``, writing ``frames`` to its stdin; a failure is a ``MediaError`` naming both files."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        assert proc.stdin is not None
        broken = False
        try:
            for data in _prefetch(frames):
                proc.stdin.write(data)
        except BrokenPipeError:
            broken = True  # ffmpeg died; its stderr says why
        except BaseException:
            proc.kill()  # drawing failed: don't leave a half-fed encoder behind (atomic_path drops the file)
            proc.wait()
            raise
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                broken = True
        code = proc.wait()
        if code != 0 or broken:
            errors.seek(0)
            tail = "\n".join(errors.read().decode(errors="replace").strip().splitlines()[-10:])
            raise MediaError(f"{source}: ffmpeg failed rendering {out} (exit {code}): {tail}")


def animate_still(
    image: Path,
    out: Path,
    *,
    prompt: str,
    duration: float,
    resolution: str,
    aspect_ratio: str,
    fps: float | Fraction = FPS,
    end_image: Path | None = None,
    audio: bool = True,
) -> Path:
    """Render ``image`` as an MP4 at ``out`` moving as ``camera_move(prompt)`` names; returns ``out``.

    Output: ``frame_size(resolution, aspect_ratio)``, ``round(duration * fps)`` frames at constant ``fps``,
    encoded exactly as ``ConformSpec`` encodes (+faststart), with AAC 48 kHz stereo ambience as long as the video
    (none when ``audio`` is False).
    The image is cover-cropped to the aspect ratio and is the first frame; ``end_image`` (cover-cropped likewise) is
    cross-dissolved in over the last second or so, so the last frame is exactly it (xAI's pinned last frame).
    """
    image, out = Path(image), Path(out)
    if not duration > 0 or fps <= 0:
        raise MediaError(f"{image}: cannot render a clip of {duration} s at {fps} fps")
    rate = exact_rate(fps)
    size = frame_size(resolution, aspect_ratio)
    count = max(1, round(Fraction(duration) * rate))
    move = camera_move(prompt)
    source = load_rgb(image, max_side=4 * max(size))
    canvas, first = camera_canvas(source, size, move)
    end = cover_crop(load_rgb(Path(end_image), max_side=4 * max(size)), size) if end_image else None
    dissolve = max(1, min(round(DISSOLVE_SECONDS * rate), round(0.4 * count)))
    frames = _frames(canvas, camera_view(move, first), size, count, end, dissolve)
    _encode(frames, out, size, rate, count, image, audio)
    return out
