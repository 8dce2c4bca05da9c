"""The local animator: ``animate_still`` turns a still image into a short clip with a camera move from the prompt.

It stands in for an image-to-video model (the local generator and the xAI emulator both use it), so it keeps
the model's contract: the first frame is the source image, the clip has exactly ``round(duration * fps)``
frames at the requested size, and with ``end_image`` the last frame is that image.

Frames are drawn with Pillow (a float crop box resampled to the frame: sub-pixel smooth, unlike ``zoompan``)
and piped as raw RGB into one ffmpeg process that encodes H.264 and adds a soft pink-noise ambience. It encodes
with the conform spec's own settings (``ConformSpec.video_args``: codec, profile, pixel format, BT.709 tags,
GOP), so its clips join a deliverable by stream copy, without being conformed.
"""

from __future__ import annotations

import math
import queue
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import ffmpeg
from PIL import Image, ImageFilter

from media_pipeline.media.conform import COLOUR, ConformSpec, encoder_input, exact_rate
from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import ffmpeg_args
from media_pipeline.media.files import atomic_path
from media_pipeline.media.formats import FPS, frame_size
from media_pipeline.media.images import cover_crop, load_rgb

Box = tuple[float, float, float, float]

CAMERA_MOVES = ("zoom_in", "zoom_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "drift")
_MOVE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (move, re.compile(pattern, re.IGNORECASE))
    for move, pattern in (
        ("zoom_in", r"\b(?:push(?:es|ing)?|zoom(?:s|ing)?|dolly(?:ing)?)[\s-]+in\b"),
        ("zoom_out", r"\b(?:pull(?:s|ing)?[\s-]+back|(?:zoom(?:s|ing)?|dolly(?:ing)?)[\s-]+out)\b"),
        ("pan_left", r"\bpan(?:s|ning)?[\s-]+left\b"),
        ("pan_right", r"\bpan(?:s|ning)?[\s-]+right\b"),
        ("tilt_up", r"\btilt(?:s|ing)?[\s-]+up\b"),
        ("tilt_down", r"\btilt(?:s|ing)?[\s-]+down\b"),
    )
)

ZOOM = 1.15  # zoom in / out: final scale of the view
PAN_ZOOM = 1.25  # pans and tilts zoom in while moving so the view never leaves the picture
DRIFT_ZOOM = 1.06
DISSOLVE_SECONDS = 1.0  # cross-dissolve to ``end_image``: at most this, at most 40 % of the clip
AMBIENCE_AMPLITUDE = 0.02  # pink noise, about -34 dBFS before the low-pass: present but quiet


def camera_move(prompt: str) -> str:
    """The camera move named earliest in ``prompt`` (one of ``CAMERA_MOVES``); ``"drift"`` if none is named.

    Recognised (case-insensitive, space or hyphen): push in, zoom in, dolly in -> ``zoom_in``; pull back,
    zoom out, dolly out -> ``zoom_out``; pan left/right; tilt up/down.
    """
    found = [(m.start(), move) for move, pattern in _MOVE_PATTERNS if (m := pattern.search(prompt or ""))]
    return min(found)[1] if found else "drift"


def _ease(p: float) -> float:
    """Ease-in-out on [0, 1] so moves start and settle gently."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(p, 0.0), 1.0))


def _view(move: str, frame: Box) -> Callable[[float], Box]:
    """For ``move``, a function from progress in [0, 1] to the crop box (x, y, w, h) in canvas pixels.

    ``frame`` is the box of the source's framing on the canvas; every move returns exactly it at progress 0.
    """
    fx, fy, fw, fh = frame

    def box(zoom: float, ax: float, ay: float) -> Box:
        # A view ``zoom`` times closer, its free space split ``ax``:``1 - ax`` left:right (``ay`` for top).
        w, h = fw / zoom, fh / zoom
        return fx + (fw - w) * ax, fy + (fh - h) * ay, w, h

    def pan_zoom(p: float) -> float:
        return 1 + (PAN_ZOOM - 1) * _ease(min(1.0, p / 0.4))

    def pan(ax: float, ay: float) -> Callable[[float], Box]:
        # Zoom settles early and the view keeps sliding toward one edge: reads as a pan, not a zoom.
        return lambda p: box(pan_zoom(p), 0.5 + (ax - 0.5) * _ease(p), 0.5 + (ay - 0.5) * _ease(p))

    views: dict[str, Callable[[float], Box]] = {
        "zoom_in": lambda p: box(1 + (ZOOM - 1) * _ease(p), 0.5, 0.5),
        "zoom_out": lambda p: box(1 / (1 + (ZOOM - 1) * _ease(p)), 0.5, 0.5),
        "pan_left": pan(0.0, 0.5),
        "pan_right": pan(1.0, 0.5),
        "tilt_up": pan(0.5, 0.0),
        "tilt_down": pan(0.5, 1.0),
        "drift": lambda p: box(1 + (DRIFT_ZOOM - 1) * _ease(p), 0.5 + 0.2 * _ease(p), 0.5 - 0.2 * _ease(p)),
    }
    return views[move]


def _canvas(image: Image.Image, size: tuple[int, int], move: str) -> tuple[Image.Image, Box]:
    """The picture the moving view samples, and the box on it that is the first frame.

    Closer moves get a canvas up to their zoom factor larger than the frame (when the source has the pixels)
    so zoomed frames stay sharp. A pull-back needs picture outside the framing: the source's own cropped-off
    margins where it has them, else a blurred stretch of the image, so the first frame is still the source.
    """
    width, height = size
    if move == "zoom_out":
        mx, my = math.ceil(width * (ZOOM - 1) / 2), math.ceil(height * (ZOOM - 1) / 2)
        cw, ch = width + 2 * mx, height + 2 * my
        canvas = cover_crop(image, (cw // 8 or 1, ch // 8 or 1)).filter(ImageFilter.GaussianBlur(4))
        canvas = canvas.resize((cw, ch), Image.Resampling.BILINEAR)
        # Map the source onto the canvas at the scale where it covers the frame, and paste what lands inside.
        k = max(width / image.width, height / image.height)
        left = max(0.0, image.width / 2 - cw / (2 * k))
        top = max(0.0, image.height / 2 - ch / (2 * k))
        right, bottom = image.width - left, image.height - top
        dx, dy = round(cw / 2 + (left - image.width / 2) * k), round(ch / 2 + (top - image.height / 2) * k)
        part = image.resize((cw - 2 * dx, ch - 2 * dy), Image.Resampling.LANCZOS, box=(left, top, right, bottom))
        inner = cover_crop(image, size)
        canvas.paste(part, (dx, dy))
        canvas.paste(inner, (mx, my))
        return canvas, (float(mx), float(my), float(width), float(height))
    reach = {"zoom_in": ZOOM, "drift": DRIFT_ZOOM}.get(move, PAN_ZOOM)
    native = min(image.width / width, image.height / height)  # source pixels per frame pixel when covering
    scale = min(reach, max(1.0, native))
    cw, ch = round(width * scale), round(height * scale)
    return cover_crop(image, (cw, ch)), (0.0, 0.0, float(cw), float(ch))


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
    canvas, first = _canvas(source, size, move)
    end = cover_crop(load_rgb(Path(end_image), max_side=4 * max(size)), size) if end_image else None
    dissolve = max(1, min(round(DISSOLVE_SECONDS * rate), round(0.4 * count)))
    frames = _frames(canvas, _view(move, first), size, count, end, dissolve)
    _encode(frames, out, size, rate, count, image, audio)
    return out
