"""Old import path of ``ffmpeg_exe``, kept only for callers outside ``media/`` until they import
``media_pipeline.media.ffmpeg`` (``media_pipeline_tests/test_sequences.py``); delete it then."""

from media_pipeline.media.ffmpeg import ffmpeg_exe

__all__ = ["ffmpeg_exe"]
