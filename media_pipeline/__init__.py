"""media_pipeline: still images to finished video deliverables, as Dagster assets partitioned per campaign.

``defs`` is built on first access, not at import: the ``media-pipeline`` command imports this package before it
can report a bad setting, and it reports it as a clean failure rather than an import traceback.
"""

from typing import Any

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from .definitions import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), "defs"]
