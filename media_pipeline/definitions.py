"""The project's own code location: one use of the factory (``factory.py``), with the pipeline's drop zone, store
and generator chosen from the environment (the only configuration a user must know; see the README).

Every setting is read by a function of a mapping; a value the pipeline cannot use is a ``ConfigurationError``
(see ``settings``) naming the variable, so the CLI reports it as a clean failure and ``dagster dev`` shows it
when the code location loads.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

from dagster import Definitions, EnvVar, ExecutorDefinition, in_process_executor

from .factory import build_pipeline_defs
from .media.cores import cores
from .resources.drops import DropZone, LocalDropZone
from .resources.generator import LocalVideoGenerator, VideoGenerator
from .resources.s3.drops import S3DropZone
from .resources.s3.location import parse_s3_uri
from .resources.s3.store import S3MediaStore
from .resources.store import LocalMediaStore, MediaStore
from .resources.xai.generator import XaiVideoGenerator
from .resources.xai.pacing import PACING_URL_ENV
from .settings import FLAGS, ConfigurationError, check_api_key, check_settings, number

DEFAULT_MAX_CONCURRENT_GENERATIONS = 8


def home(environ: Mapping[str, str] = os.environ) -> Path:
    """``MEDIA_PIPELINE_HOME``: where local drops and the local store live by default."""
    return Path(environ.get("MEDIA_PIPELINE_HOME", ".media_pipeline")).absolute()


def _location(environ: Mapping[str, str], variable: str, folder: str) -> str:
    """A location from ``variable``: an ``s3://`` URI as given, else an absolute folder (default under home)."""
    location = environ.get(variable) or str(home(environ) / folder)
    if not location.startswith("s3://"):
        return str(Path(location).absolute())
    try:
        parse_s3_uri(location)
    except ValueError as exc:
        raise ConfigurationError(f"{variable}: {exc}; expected a folder or s3://bucket/prefix") from None
    return location


def store_from_env(environ: Mapping[str, str] = os.environ) -> MediaStore:
    """``MEDIA_PIPELINE_STORE``: a folder or ``s3://bucket/prefix`` (default ``<home>/store``)."""
    location = _location(environ, "MEDIA_PIPELINE_STORE", "store")
    return S3MediaStore.from_uri(location) if location.startswith("s3://") else LocalMediaStore(root=location)


def drops_from_env(environ: Mapping[str, str] = os.environ) -> DropZone:
    """``MEDIA_PIPELINE_DROPS``: a folder or ``s3://bucket/prefix`` (default ``<home>/drops``)."""
    location = _location(environ, "MEDIA_PIPELINE_DROPS", "drops")
    return S3DropZone.from_uri(location) if location.startswith("s3://") else LocalDropZone(root=location)


def generator_from_env(environ: Mapping[str, str] = os.environ) -> VideoGenerator:
    """``MEDIA_PIPELINE_GENERATOR`` (``xai`` | ``local``; default ``xai`` when ``XAI_API_KEY`` is set)."""
    choice = environ.get("MEDIA_PIPELINE_GENERATOR") or ("xai" if environ.get("XAI_API_KEY") else "local")
    limit = int(
        number(environ, "MEDIA_PIPELINE_MAX_CONCURRENT_GENERATIONS", DEFAULT_MAX_CONCURRENT_GENERATIONS, int, 1)
    )
    if choice == "local":
        return LocalVideoGenerator(max_concurrent=min(limit, cores()))
    if choice != "xai":
        raise ConfigurationError(f"MEDIA_PIPELINE_GENERATOR={choice[:40]!r}: expected 'xai' or 'local'")
    check_api_key(environ.get("XAI_API_KEY", ""))
    insecure = environ.get("XAI_USE_INSECURE_CHANNEL", "").strip().lower()
    if insecure not in FLAGS:
        raise ConfigurationError(f"XAI_USE_INSECURE_CHANNEL={insecure[:40]!r}: expected 1, true, yes, 0, false or no")
    return XaiVideoGenerator(
        api_key=EnvVar("XAI_API_KEY"),
        api_host=environ.get("XAI_API_HOST", "api.x.ai"),
        use_insecure_channel=FLAGS[insecure],
        max_concurrent=limit,
        rps=number(environ, "MEDIA_PIPELINE_XAI_RPS", 0.0, float, 0.001) or None,  # unset: each model's catalog rps
        pacing_url=environ.get(PACING_URL_ENV, ""),
    )


def build_defs(
    environ: Mapping[str, str] = os.environ, executor: ExecutorDefinition = in_process_executor
) -> Definitions:
    """The code location's definitions for the given environment. ``executor`` is the location's default, which
    runs every campaign run (``__ASSET_JOB``, whether the UI, a sensor, the schedule or the CLI started it)."""
    check_settings(environ)
    return build_pipeline_defs(
        drops=drops_from_env(environ),
        store=store_from_env(environ),
        generator=generator_from_env(environ),
        executor=executor,
    )


@functools.cache
def _location_defs() -> Definitions:
    return build_defs()


def __getattr__(name: str) -> Definitions:
    """``defs``: the location, built from ``os.environ`` on first use, so importing this module for its functions
    (as ``MediaPipelineComponent`` does in a user's project) reads no environment and builds nothing."""
    if name == "defs":
        return _location_defs()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), "defs"]
