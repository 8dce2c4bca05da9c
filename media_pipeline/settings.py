"""Reading settings from the environment: a typed value, or a ``ConfigurationError`` naming the variable.

Kept apart from ``definitions`` (which builds the code location at import) so the ``media-pipeline`` command
can catch and report a bad setting as a clean failure. A message never holds the value of a secret.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from .resources.xai.catalog import catalog_from_env
from .resources.xai.pacing import pacing_url


class ConfigurationError(ValueError):
    """An environment variable the pipeline cannot use; the message names it and what it accepts."""


FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}


def number(environ: Mapping[str, str], name: str, default: float, kind: type, minimum: float) -> float:
    """``environ[name]`` as an int or float of at least ``minimum``; ``default`` when unset or empty."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not minimum <= value < math.inf:  # also refuses NaN and inf
        what = "a whole number" if kind is int else "a number"
        raise ConfigurationError(f"{name}={raw[:40]!r}: expected {what} of at least {minimum}")
    return value


def check_api_key(key: str) -> None:
    """The xAI key must be there and be one printable ASCII token (gRPC refuses anything else in a header)."""
    if not key:
        raise ConfigurationError(
            "XAI_API_KEY is not set; the xai generator needs it (or MEDIA_PIPELINE_GENERATOR=local)"
        )
    bad = next((i for i, c in enumerate(key) if not (c.isascii() and c.isprintable()) or c.isspace()), None)
    if bad is not None:
        raise ConfigurationError(
            f"XAI_API_KEY has a space, control or non-ASCII character at position {bad + 1} of {len(key)}; "
            "copy the key again"
        )


def check_settings(environ: Mapping[str, str] = os.environ) -> None:
    """The settings read elsewhere (the sensors, the xAI pacing, batch mode, the model catalog), checked when the
    definitions load, each error naming its variable."""
    number(environ, "MEDIA_PIPELINE_SETTLE_SECONDS", 0.0, float, 0.0)
    number(environ, "MEDIA_PIPELINE_RETRY_GRACE_SECONDS", 60.0, float, 0.0)  # missed_retry_sensor (retry_sensor.py)
    number(environ, "MEDIA_PIPELINE_XAI_RPS", 1.0, float, 0.001)
    number(environ, "MEDIA_PIPELINE_BATCH_WAIT_SECONDS", 60.0, float, 0.0)  # batch mode (assets/batch_clips.py)
    number(environ, "MEDIA_PIPELINE_BATCH_POLL_SECONDS", 10.0, float, 0.01)
    try:
        catalog_from_env(environ)  # MEDIA_PIPELINE_XAI_MODELS, parsed once here and kept
        pacing_url(environ)  # MEDIA_PIPELINE_PACING_URL's scheme (never its password)
    except ValueError as exc:  # names the variable (and the entry and field)
        raise ConfigurationError(str(exc)) from None
