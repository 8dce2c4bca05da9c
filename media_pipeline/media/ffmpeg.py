"""Which ffmpeg binary to run: the one on PATH when present, else the one the imageio-ffmpeg wheel ships."""

from __future__ import annotations

import functools
import shutil


@functools.cache
def ffmpeg_exe() -> str:
    """Absolute path of the ffmpeg executable used for every encode."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
