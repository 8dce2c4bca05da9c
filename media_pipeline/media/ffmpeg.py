"""The one place ``media/`` finds and runs ffmpeg.

The binary is the one on PATH when present, else the one the imageio-ffmpeg wheel ships. ``run_ffmpeg`` takes
an ffmpeg-python graph or a plain argument list and turns a failure into a ``MediaError`` naming what was being
done, with the tail of ffmpeg's own message.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from media_pipeline.media.errors import MediaError


@functools.cache
def ffmpeg_exe() -> str:
    """Absolute path of the ffmpeg executable used for every encode."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_args(stream_or_args: Any, loglevel: str = "error") -> list[str]:
    """The full command line for an ffmpeg-python graph (or a list of arguments after the binary)."""
    if isinstance(stream_or_args, Sequence) and not isinstance(stream_or_args, str):
        return [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", loglevel, *map(str, stream_or_args)]
    graph = stream_or_args.overwrite_output().global_args("-nostdin", "-hide_banner", "-v", loglevel)
    return graph.compile(cmd=ffmpeg_exe())


_runs = 0
_runs_lock = threading.Lock()


def ffmpeg_runs() -> int:
    """How many times this process has run ffmpeg through ``run_ffmpeg`` (a deliverable reports its encodes)."""
    return _runs


def run_ffmpeg(stream_or_args: Any, *, what: str, loglevel: str = "error") -> str:
    """Run an ffmpeg-python graph (or a list of arguments) with our ffmpeg and return its stderr.

    Raises ``MediaError`` naming ``what`` with the tail of ffmpeg's stderr when it fails.
    """
    global _runs
    with _runs_lock:
        _runs += 1
    result = subprocess.run(ffmpeg_args(stream_or_args, loglevel), capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-8:])
        raise MediaError(f"{what}: ffmpeg failed (exit {result.returncode}): {tail}")
    return result.stderr


def split_repeats(streams: list[Any], splitter: str) -> list[Any]:
    """``streams`` with every repeated chain fed through one ``split``/``asplit``.

    ffmpeg-python merges identical chains (the same clip twice, equal silences) into one graph node, and a node
    cannot feed two branches without a split; identical chains give identical output, so one may feed them all.
    """
    counts = Counter(streams)
    splits = {s: s.filter_multi_output(splitter, n) for s, n in counts.items() if n > 1}
    used: Counter[Any] = Counter()
    shared = []
    for stream in streams:
        if stream in splits:
            shared.append(splits[stream][used[stream]])
            used[stream] += 1
        else:
            shared.append(stream)
    return shared
