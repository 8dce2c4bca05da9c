"""The emulator's "model": a small pool rendering real clips from the input image, with a render cache.

Renders run in the background so polls never wait on an encode, at most ``concurrency`` at once (encodes are
CPU-bound). Identical requests (same image bytes, end image, prompt, duration, resolution, aspect ratio) share
one render, kept on disk in ``cache_dir``, so a benchmark of many shots measures the client, not ffmpeg.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path


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
    ) -> Future[Path]:
        """A future for the clip of these inputs: done at once on a cache hit."""
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

        fd, tmp = tempfile.mkstemp(prefix=".render-", suffix=".mp4", dir=self.cache_dir)
        os.close(fd)
        try:
            animate_still(
                image,
                Path(tmp),
                prompt=str(spec["prompt"]),
                duration=float(spec["duration"]),  # type: ignore[arg-type]
                resolution=str(spec["resolution"]),
                aspect_ratio=str(spec["aspect_ratio"]),
                fps=self.fps,
                end_image=end_image,
                audio=bool(spec.get("audio", True)),
            )
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        with self._lock:
            self.renders += 1
        return target

    def close(self) -> None:
        """Stop accepting renders; running ones finish."""
        self._pool.shutdown(wait=True, cancel_futures=True)
