"""The one exception type ``media/`` raises, so callers can tell a bad input or failed encode from a bug."""

from __future__ import annotations


class MediaError(RuntimeError):
    """An input could not be read, or an ffmpeg/PyAV operation on it failed; the message names the file."""
