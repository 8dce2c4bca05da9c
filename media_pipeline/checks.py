"""Asset checks on the pipeline's edges: images valid, clips faithful, deliverable conformant and complete.

Each check is declared on its asset (``*_CHECK`` specs) and evaluated inside the asset's own step from what the
step already knows, so a check never re-downloads or re-decodes what the asset just handled. The deliverable's
checks judge the set the step published: the record its pointer names and the files uploaded into it.

The checks are partitioned like their assets (one campaign per partition): a result belongs to the campaign its
step ran for, so the UI shows each campaign's own verdicts and history, and one bad campaign paints only itself
red. Every result's metadata names its campaign and the shots (or files) that failed.
"""

from __future__ import annotations

import warnings

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, PreviewWarning

from .media.conform import ConformSpec, conformance_problems
from .media.probe import MediaInfo
from .partitions import campaign_partitions
from .records import Deliverable, GeneratedClips, SourceImages

FIDELITY_THRESHOLD = 0.9


def partitioned_check_spec(name: str, **spec_args) -> AssetCheckSpec:
    """An ``AssetCheckSpec`` on the campaign partitions (``_common`` gives it each pipeline's own).

    Partitioned checks are a preview feature in Dagster 1.13; its warning is silenced here, once, on purpose.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)
        return AssetCheckSpec(name, partitions_def=campaign_partitions, **spec_args)


IMAGES_VALID = partitioned_check_spec("images_valid", asset="source_images", description="Every dropped image decodes.")
FIRST_FRAMES_FAITHFUL = partitioned_check_spec(
    "first_frames_faithful",
    asset="generated_clips",
    description=f"Each clip's first frame matches its source image (SSIM >= {FIDELITY_THRESHOLD}).",
)
DELIVERABLE_CONFORMANT = partitioned_check_spec(
    "deliverable_conformant",
    asset="deliverable",
    description="H.264 yuv420p with AAC 48 kHz stereo, the spec's size and frame rate, audio as long as video.",
)
DELIVERABLE_COMPLETE = partitioned_check_spec(
    "deliverable_complete",
    asset="deliverable",
    description="Every shot is in the deliverable (on_failed_shots: skip delivers without the failed ones).",
)


def _shots(names: list[str]) -> str:
    return ", ".join(names) or "none"


def images_valid(record: SourceImages) -> AssetCheckResult:
    """Passes when no dropped file was refused; lists the refused ones and the shots that use them otherwise."""
    bad = {name: f.error for name, f in record.files.items() if f.error}
    shots = [s.shot_id for s in record.campaign.shots if s.image in bad or s.end_image in bad]
    return AssetCheckResult(
        check_name=IMAGES_VALID.name,
        passed=not bad,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "campaign": record.campaign.campaign_id,
            "refused": len(bad),
            "failing_shots": _shots(shots),
            "errors": "\n".join(f"{n}: {e}" for n, e in bad.items()) or "none",
        },
    )


def first_frames_faithful(record: GeneratedClips) -> AssetCheckResult:
    """Warns when a clip's first frame drifts from its source (the generator did not start on the image)."""
    scored = {c.shot: c.fidelity for c in record.clips if c.fidelity is not None}
    drifted = {shot: round(score, 3) for shot, score in scored.items() if score < FIDELITY_THRESHOLD}
    return AssetCheckResult(
        check_name=FIRST_FRAMES_FAITHFUL.name,
        passed=not drifted,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "campaign": record.campaign,
            "min_ssim": min(scored.values(), default=1.0),
            "failing_shots": _shots(list(drifted)),
            "drifted_shots": ", ".join(f"{s} ({v})" for s, v in drifted.items()) or "none",
        },
    )


def deliverable_conformant(campaign: str, files: dict[str, tuple[MediaInfo, ConformSpec]]) -> AssetCheckResult:
    """Passes when every rendition, probed after encoding, conforms to the spec it was made for."""
    problems = {aspect: conformance_problems(info, spec) for aspect, (info, spec) in files.items()}
    failing = {aspect: p for aspect, p in problems.items() if p}
    return AssetCheckResult(
        check_name=DELIVERABLE_CONFORMANT.name,
        passed=not failing,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "campaign": campaign,
            "failing_renditions": _shots(list(failing)),
            "problems": "\n".join(f"{a}: {'; '.join(p)}" for a, p in failing.items()) or "none",
        },
    )


def deliverable_complete(record: Deliverable) -> AssetCheckResult:
    """Warns, naming them with their errors, when shots were left out of the published set."""
    return AssetCheckResult(
        check_name=DELIVERABLE_COMPLETE.name,
        passed=not record.skipped_shots,
        severity=AssetCheckSeverity.WARN,
        description=f"campaign {record.campaign!r}: {len(record.skipped_shots)} shot(s) missing: "
        f"{', '.join(record.skipped_shots)}"
        if record.skipped_shots
        else f"campaign {record.campaign!r}: every shot delivered",
        metadata={
            "campaign": record.campaign,
            "missing": len(record.skipped_shots),
            "failing_shots": _shots(list(record.skipped_shots)),
            "missing_shots": "\n".join(f"{s}: {e}" for s, e in record.skipped_shots.items()) or "none",
            "version": record.version,
        },
    )
