"""Old import path of the local animator, kept only for callers outside ``media/`` (``resources/generator.py``,
``emulator/renders.py``, ``bench/bench_pipeline.py``) until they import ``media.animate.animate_still``; delete
it then."""

from media_pipeline.media.animate import CAMERA_MOVES, camera_move
from media_pipeline.media.animate import animate_still as animate

__all__ = ["CAMERA_MOVES", "animate", "camera_move"]
