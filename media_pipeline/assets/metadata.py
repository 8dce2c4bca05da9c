"""Metadata helpers shared by the assets, so every stage shows its per-shot table the same way in the UI, the one
log line of a finished shot that the CLI's progress line reads back, and ``generated_clips``' materialization:
its record, data version, check, and metadata (totals, the shots, and with takes one table of every take with
model, cost, latency and scores, the pick reasons and an inline preview of each take)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dagster import DataVersion, MaterializeResult, MetadataValue

from ..checks import first_frames_faithful
from ..preview import thumbnail_markdown
from ..records import GeneratedClips, ShotClip
from ..resources.store import MediaStore
from ..resources.xai import ledger


def shot_table(rows: Sequence[dict[str, Any]]) -> MetadataValue:
    """A Markdown table of ``rows`` (all with the same keys), shown as a table in the Dagster UI."""
    if not rows:
        return MetadataValue.md("_no rows_")
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (str(row[c]).replace("|", "\\|").replace("\n", " ") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return MetadataValue.md("\n".join(lines))


def digest(parts: Iterable[str]) -> str:
    """A short stable hash of ``parts``, used as an asset's ``DataVersion`` so staleness follows content."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


SHOT_DONE = re.compile(
    r"^campaign '(?P<campaign>[^']+)', shot '(?P<shot>[^']+)'(?:, take (?P<take>\d+))?: (?P<status>\w+), "
    r"\$(?P<cost>[0-9.]+)$"
)
"""The line each take's outcome logs (``shot_done``; the first take without its number); the CLI's progress line
counts them in the run's events."""


def shot_done(where: str, status: str, cost_usd: float) -> str:
    """The log line of one finished shot: ``campaign 'c', shot 's': generated, $0.1000``."""
    return f"{where}: {status}, ${cost_usd:.4f}"


def inline_thumbnail(path: Path, alt: str) -> MetadataValue:
    """A Markdown image the UI shows in place (``preview.thumbnail_markdown``)."""
    return MetadataValue.md(thumbnail_markdown(path, alt))


MAX_PREVIEWS = 48  # inline take previews per materialization; the takes table names every clip's location


def materialize_clips(
    campaign: str,
    generator: str,
    clips: list[ShotClip],
    previews: dict[str | None, str],
    store: MediaStore,
    estimate: float,
    shared_calls: int = 0,
) -> MaterializeResult:
    """``generated_clips``' result from the shots' records in delivery order; ``shared_calls`` (a batch's calls,
    made for the campaign) go on the first shot."""
    if clips and shared_calls:
        clips[0].api_calls += shared_calls
    record = GeneratedClips(campaign=campaign, generator=generator, clips=clips)
    metadata = _clips_metadata(record, estimate, ledger.spent(store, campaign))
    if any(c.takes for c in clips):
        metadata.update(_takes_metadata(record, previews, store))
    return MaterializeResult(
        value=record,
        data_version=DataVersion(digest(c.cache_key or c.status for c in record.clips)),
        check_results=[first_frames_faithful(record)],
        metadata=metadata,
    )


def _clips_metadata(record: GeneratedClips, estimate: float, spent: float) -> dict[str, Any]:
    clips, prefix = record.clips, record.generator
    takes = [t for c in clips for t in c.takes or [c]]
    return {
        f"{prefix}.calls": sum(c.api_calls for c in clips),
        f"{prefix}.cost_usd": round(sum(c.cost_usd for c in clips), 4),
        f"{prefix}.submits": sum(c.submits for c in clips),
        f"{prefix}.uncertain_submits": sum(c.uncertain_submits for c in clips),
        f"{prefix}.video_seconds": round(sum(c.video_seconds for c in clips), 3),
        f"{prefix}.cache_hits": sum(1 for t in takes if t.cache_hit),
        "estimate_usd": round(estimate, 4),
        "campaign_spent_usd": round(spent, 4),
        "clips.generated": sum(1 for t in takes if t.status == "generated"),
        "clips.failed": len(record.failed),
        "clips.healed": sum(1 for t in takes if t.healed),
        "shots": shot_table(
            [
                {
                    "shot": c.shot,
                    "status": c.status,
                    "take": c.take,
                    "request_id": c.request_id or "",
                    "latency_s": round(c.latency_s, 2),
                    "calls": c.api_calls,
                    "cost_usd": round(c.cost_usd, 4),
                    "healed": "yes" if c.healed else "",
                    "ssim": "" if c.fidelity is None else round(c.fidelity, 3),
                    "clip": c.clip_key or "",
                    "error": c.error or "",
                }
                for c in clips
            ]
        ),
    }


def _number(value: float | None) -> float | str:
    return "" if value is None else round(value, 3)


def _takes_metadata(record: GeneratedClips, previews: dict[str | None, str], store: MediaStore) -> dict[str, Any]:
    """Every take side by side (model, cost, latency, scores, where its clip is), why each pick, the previews."""
    rows, shown = [], {}
    for clip in record.clips:
        for take in clip.takes or [clip]:
            s = take.scores
            rows.append(
                {
                    "shot": clip.shot,
                    "take": take.take,
                    "model": take.model or "",
                    "picked": "yes" if take.take == clip.take and clip.status != "failed" else "",
                    "status": take.status,
                    "request_id": take.request_id or "",
                    "latency_s": round(take.latency_s, 2),
                    "calls": take.api_calls,
                    "cost_usd": round(take.cost_usd, 4),
                    "score": _number(s.get("overall")),
                    "first_ssim": _number(s.get("first_frame_ssim")),
                    "last_ssim": _number(s.get("last_frame_ssim")),
                    "frozen_s": _number(s.get("frozen_seconds")),
                    "black_s": _number(s.get("black_seconds")),
                    "colour": _number(s.get("colour_distance")),
                    "clip": store.uri(take.clip_key) if take.clip_key else "",
                    "error": take.error or "",
                }
            )
            preview = previews.get(take.cache_key)
            if preview and len(shown) < MAX_PREVIEWS:
                shown[f"preview.{clip.shot}.take_{take.take}"] = MetadataValue.md(preview)
    picks = [{"shot": c.shot, "take": c.take, "reason": c.pick_reason or ""} for c in record.clips if c.takes]
    return {"takes": shot_table(rows), "picks": shot_table(picks), **shown}
