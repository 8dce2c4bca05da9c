"""The emulator's "model": a small pool rendering real clips from the input image, with a render cache.

Renders run in the background so polls never wait on an encode, at most ``concurrency`` at once (encodes are
CPU-bound). Identical requests (same image bytes, end image, prompt, duration, resolution, aspect ratio) share
one render, kept on disk in ``cache_dir``, so a benchmark of many shots measures the client, not ffmpeg.

A render has a look and a variant, decided per request by the faults (``faults.RequestFate``): a clean take; a
*drift* that starts on another picture (the source upside down, colour-inverted, under a coarse checkerboard:
first-frame SSIM well under 0.5 even on a flat product shot); or a *freeze* that holds the frame at
``FREEZE_FROM`` of the clip to its end. Variant N > 0 is the same clip a few per cent brighter or darker and
warmer or cooler, the way a stochastic model's takes differ without being worse. Each is its own cache entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

LOOKS = ("clean", "drift", "freeze")
FREEZE_FROM = 0.15  # a frozen take moves for its first 15 % and holds that frame to the end
# Squares across the short side of a drifted take's checkerboard: SSIM compares ~256 px short sides with an 11 px
# window, so squares under ~9 px there leave no window flat and the drift scores under 0.15 from 90p to 1080p.
CHECKER_CELLS = 32
VARIANT_GAIN = 0.02  # brightness step between variants: visible side by side, far from a colour defect
VARIANT_TINT = 0.01  # and a warm (odd) or cool (even) tint of this much on red against blue


class RenderPool:
    """Renders clips with ``media.animate.animate_still`` in background threads, caching by content."""

    def __init__(self, cache_dir: Path, concurrency: int = 2, fps: int = 24) -> None:
        self.cache_dir = cache_dir
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="xai-emulator-render")
        self._inflight: dict[str, Future[Path]] = {}
        self._lock = threading.Lock()
        self.renders = 0

    def submit(
        self,
        image: Path,
        *,
        prompt: str,
        duration: int,
        resolution: str,
        aspect_ratio: str,
        end_image: Path | None = None,
        audio: bool = True,
        look: str = "clean",
        variant: int = 0,
    ) -> Future[Path]:
        """A future for the clip of these inputs, ``look`` (one of ``LOOKS``) and ``variant`` (0: the plain take):
        done at once on a cache hit."""
        if look not in LOOKS:
            raise ValueError(f"unknown render look {look!r}; expected one of {LOOKS}")
        spec = {
            "image": image.name,  # image files are named by their sha256
            "end": end_image.name if end_image else None,
            "prompt": prompt,
            "duration": duration,
            "resolution": resolution,
            "aspect_ratio": aspect_ratio,
            "fps": self.fps,
        }
        if not audio:  # only a silent clip differs, so renders cached before stay valid
            spec["audio"] = False
        if look != "clean":  # likewise a drifted or frozen take, and a variant
            spec["look"] = look
        if variant:
            spec["variant"] = variant
        key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]
        target = self.cache_dir / f"{key}.mp4"
        with self._lock:
            if key in self._inflight:
                return self._inflight[key]
            future: Future[Path] = Future()
            if target.is_file():
                future.set_result(target)
                return future
            future = self._pool.submit(self._render, image, target, spec, end_image)
            self._inflight[key] = future
            future.add_done_callback(lambda _f: self._forget(key))
            return future

    def _forget(self, key: str) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    def _render(self, image: Path, target: Path, spec: dict[str, object], end_image: Path | None) -> Path:
        from ..media.animate import animate_still  # imported here so the emulator loads without ffmpeg until used
        from ..media.formats import frame_size
        from ..media.images import load_rgb

        look, variant = str(spec.get("look", "clean")), int(spec.get("variant", 0))  # type: ignore[call-overload]
        with tempfile.TemporaryDirectory(prefix=".render-", dir=self.cache_dir) as tmp:
            picture, clip = image, Path(tmp) / "clip.mp4"
            if look == "drift" or variant:
                picture = Path(tmp) / "picture.png"
                size = frame_size(str(spec["resolution"]), str(spec["aspect_ratio"]))
                source = load_rgb(image, max_side=4 * max(size))  # no more than animate_still itself uses
                take_picture(source, look=look, variant=variant).save(picture, compress_level=1)  # a scratch file
            animate_still(
                picture,
                clip,
                prompt=str(spec["prompt"]),
                duration=float(spec["duration"]),  # type: ignore[arg-type]
                resolution=str(spec["resolution"]),
                aspect_ratio=str(spec["aspect_ratio"]),
                fps=self.fps,
                end_image=end_image,
                audio=bool(spec.get("audio", True)),
            )
            if look == "freeze":
                clip = freeze_clip(clip, Path(tmp) / "frozen.mp4")
            os.replace(clip, target)
        with self._lock:
            self.renders += 1
        return target

    def close(self) -> None:
        """Stop accepting renders; running ones finish."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def take_picture(image: Image.Image, *, look: str = "clean", variant: int = 0) -> Image.Image:
    """The picture a take animates: ``image`` itself, or for a drift another picture (upside down, inverted,
    under a checkerboard), in variant ``variant``'s brightness and tint (0: unchanged)."""
    picture = image.convert("RGB")
    if look == "drift":
        cell = max(1, min(picture.size) // CHECKER_CELLS)
        rows, columns = np.arange(picture.height)[:, None] // cell, np.arange(picture.width)[None, :] // cell
        shade = np.where((rows + columns) % 2, 4, 1).astype(np.uint16)[..., None]  # light and dark squares
        inverted = np.asarray(ImageOps.invert(ImageOps.flip(picture)), dtype=np.uint16)
        picture = Image.fromarray((inverted * shade // 4).astype(np.uint8))
    if variant:
        step = (variant + 1) // 2 * (1 if variant % 2 else -1)
        gain = 1 + VARIANT_GAIN * step
        tint = VARIANT_TINT * (1 if variant % 2 else -1)
        red, green, blue = picture.split()
        picture = Image.merge(
            "RGB",
            [
                red.point(lambda v: min(255, round(v * gain * (1 + tint)))),
                green.point(lambda v: min(255, round(v * gain))),
                blue.point(lambda v: min(255, round(v * gain * (1 - tint)))),
            ],
        )
    return picture


def freeze_clip(clip: Path, out: Path) -> Path:
    """``clip`` re-encoded (as ``animate_still`` encodes) with the frame at ``FREEZE_FROM`` held to the end;
    its audio is copied."""
    import ffmpeg

    from ..media.conform import ConformSpec, encoder_input, exact_rate
    from ..media.ffmpeg import run_ffmpeg
    from ..media.probe import probe

    info = probe(clip)
    held = min(info.frame_count - 1, round(FREEZE_FROM * info.frame_count))
    source = ffmpeg.input(str(clip))
    split = source.video.filter_multi_output("split")
    frozen = ffmpeg.filter([split[0], split[1]], "freezeframes", first=held, last=info.frame_count - 1, replace=held)
    spec = ConformSpec(width=info.width, height=info.height, fps=exact_rate(info.fps))
    streams = [encoder_input(frozen), source.audio] if info.has_audio else [encoder_input(frozen)]
    audio = {"c:a": "copy"} if info.has_audio else {}
    graph = ffmpeg.output(*streams, str(out), **spec.video_args(), **audio, movflags="+faststart", f="mp4")
    run_ffmpeg(graph, what=f"{clip}: freezing the emulator's take")
    return out
