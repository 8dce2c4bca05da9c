"""A finished request's clip copied from its result URL into the store and checked to play: sync and batch alike.

``fetch_clip`` streams the result into the store (``http.download_to_store``: https, a size cap, truncation
detected), retries what a retry can fix (HTTP 5xx, a dropped or truncated body) with the generator's back-off, and
probes the stored clip. What it raises tells the caller what to do with the paid result: ``RetryableDownloadError``
after the last attempt (keep it, the next run downloads again), ``GoneDownloadError`` (404 / 410: the URL is over),
another ``DownloadError`` (e.g. a lapsed signed URL's 403), or ``NotPlayable`` (the body is not a video; the stored
object is removed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ...media.probe import MediaInfo, probe
from ..http import DownloadError, RetryableDownloadError, download_to_store
from ..store import MediaStore


class NotPlayable(DownloadError):
    """The downloaded body is not a playable video."""


def fetch_clip(
    url: str,
    store: MediaStore,
    clip_key: str,
    where: str,
    *,
    attempts: int,
    max_bytes: int,
    backoff: Callable[[int], float],
    log: logging.Logger,
) -> MediaInfo:
    """The clip at ``url`` in the store at ``clip_key``, probed; see the module for what each failure means."""
    for attempt in range(attempts):
        try:
            download_to_store(url, store, clip_key, max_bytes=max_bytes)
            break
        except RetryableDownloadError as exc:
            if attempt + 1 >= attempts:
                raise
            log.warning("%s: download attempt %d failed (%s); retrying", where, attempt + 1, exc)
            time.sleep(backoff(attempt))
    try:
        with store.local_file(clip_key) as path:
            info = probe(path, where)
        if not info.video_codec or info.duration <= 0:
            raise ValueError("no video stream")
    except Exception as exc:  # noqa: BLE001 - any reason it does not play
        store.delete(clip_key)
        raise NotPlayable(str(exc)) from None
    return info
