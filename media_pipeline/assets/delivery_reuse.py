"""Deliverables cached by their inputs: a campaign whose clips, soundtrack and deliverable spec did not change
publishes nothing new and encodes nothing.

``inputs_key`` hashes what a set is made from: each delivered shot's clip digest (the caller hashes each clip once
and hands the same digests to ``assemble``), the soundtrack's content hash, the deliverable spec with its frame
size, the shots left out, and the asset's code version. The key is kept in the
set's record (``Deliverable.inputs``, which is also the pointer). When the current set has the same key and every
one of its files is still in the store, the step takes that set as it is: the same bytes under the same names,
not a single ffmpeg run. Anything else (a changed clip, spec or code version, a file gone from the store) makes
the set again.
"""

from __future__ import annotations

import hashlib

from ..media.assemble import AssemblySpec
from ..records import Deliverable
from ..resources.publish import current_deliverable
from ..resources.store import MediaStore


def inputs_key(
    code_version: str,
    spec: AssemblySpec,
    clip_digests: dict[str, str],
    soundtrack_sha256: str | None,
    skipped: list[str],
) -> str:
    """The SHA-256 of everything the set is made from (the segment cache folder is not an input);
    ``clip_digests`` are shot -> SHA-256 of its clip, in shot order."""
    parts = [
        f"code_version {code_version}",
        spec.model_dump_json(exclude={"cache_dir"}),
        f"soundtrack {soundtrack_sha256 or '-'}",
        f"skipped {','.join(sorted(skipped))}",
        *(f"clip {shot} {digest}" for shot, digest in clip_digests.items()),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def reusable_set(store: MediaStore, campaign: str, inputs: str) -> Deliverable | None:
    """The campaign's current set when it was made from ``inputs`` and all its files are still stored."""
    current = current_deliverable(store, campaign)
    if current is None or current.inputs != inputs:
        return None
    return current if all(store.exists(key) for key in current.keys) else None
