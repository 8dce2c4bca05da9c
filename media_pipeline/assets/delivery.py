"""``deliverable``: conform every clip to one spec, stitch them in shot order, publish the files as one set.

The heavy lifting is ``media.assemble`` (pure ffmpeg work on local files); this asset gathers the clips from the
store and, while any shot lacks a clip, refuses (naming them; the clips already made stay for the re-run) or,
under ``on_failed_shots: skip``, delivers the good shots and names the missing ones in a warning check. The
renditions, poster and contact sheet are published as one set (``resources.publish``: a version folder, then
the pointer) and checked.
"""

import contextlib
import tempfile
from pathlib import Path

from dagster import AssetExecutionContext, DataVersion, Failure, MaterializeResult, MetadataValue

from ..approval import DELIVERABLE_APPROVED, ReviewGate
from ..checks import DELIVERABLE_COMPLETE, DELIVERABLE_CONFORMANT, deliverable_complete, deliverable_conformant
from ..deliverable_spec import DeliverableSpec
from ..media.assemble import AssemblySpec, assemble
from ..media.conform import ConformSpec
from ..media.ffmpeg import ffmpeg_runs
from ..media.files import file_digest
from ..media.formats import frame_size
from ..media.probe import probe
from ..media.renditions import rendition_size
from ..records import Deliverable, DeliverableFile, GeneratedClips, ShotClip, SourceImages
from ..resources.publish import publishing, repair_stable_names, stable_key
from ..resources.store import MediaStore
from ._common import campaign_asset
from .delivery_reuse import inputs_key, reusable_set
from .metadata import inline_thumbnail


def _shots_to_deliver(clips: GeneratedClips, on_failed_shots: str) -> tuple[list[ShotClip], dict[str, str]]:
    """The shots with a clip, and the failed ones left out (with their errors) under ``on_failed_shots: skip``.

    Refuses, naming the failed shots, under ``fail`` (the default) or when no shot has a clip.
    """
    failed = clips.failed
    made = [c for c in clips.clips if c.status != "failed"]
    if failed and (on_failed_shots == "fail" or not made):
        listing = "; ".join(f"{c.shot}: {c.error}" for c in failed)
        choice = " or set on_failed_shots: skip to deliver them without the failed ones" if made else ""
        raise Failure(
            description=(
                f"campaign {clips.campaign!r}: {len(failed)} shot(s) have no clip, so no deliverable was made "
                f"({listing}). Fix them and re-run: the {len(made)} clip(s) already made are kept and not paid "
                f"for again{choice}."
            ),
            metadata={"failed_shots": ", ".join(c.shot for c in failed)},
        )
    return made, {c.shot: c.error or "no clip" for c in failed}


def _poster_on_a_delivered_shot(spec: DeliverableSpec, skipped: dict[str, str]) -> DeliverableSpec:
    """A poster chosen on a skipped shot falls back to the middle of the programme."""
    if spec.poster.shot in skipped:
        return spec.model_copy(update={"poster": spec.poster.model_copy(update={"shot": None, "at": None})})
    return spec


CODE_VERSION = "3"  # 2: published as whole sets (version folder + pointer); 3: sets reused by their inputs


def _stored_files(stack: contextlib.ExitStack, store: MediaStore, record: Deliverable) -> tuple[list[Path], Path, Path]:
    """Local copies of a published set's renditions, poster and contact sheet (a folder store's own files)."""
    renditions = [stack.enter_context(store.local_file(f.key)) for f in record.renditions]
    return (
        renditions,
        stack.enter_context(store.local_file(record.poster_key)),
        stack.enter_context(store.local_file(record.contact_sheet_key)),
    )


def _campaign_totals(clips: GeneratedClips) -> dict[str, float | int]:
    """What the clips behind this deliverable cost, as numbers the UI plots over time."""
    return {
        "cost_usd": round(sum(c.cost_usd for c in clips.clips), 4),
        "api_calls": sum(c.api_calls for c in clips.clips),
        "video_seconds": round(sum(c.video_seconds for c in clips.clips), 3),
        "cache_hits": sum(1 for c in clips.clips if c.cache_hit),
    }


@campaign_asset(
    kinds={"ffmpeg"},
    code_version=CODE_VERSION,
    check_specs=[DELIVERABLE_CONFORMANT, DELIVERABLE_COMPLETE, DELIVERABLE_APPROVED],
)
def deliverable(
    context: AssetExecutionContext, source_images: SourceImages, generated_clips: GeneratedClips, store: MediaStore
):  # -> MaterializeResult[Deliverable]; with check specs Dagster rejects a return annotation
    """The campaign's finished video: renditions, poster and contact sheet, published to the store.

    A set made from the same inputs is already published when nothing changed: it is taken as it is. Under
    ``review: required`` the set is a draft until approved (``approval.ReviewGate``).
    """
    campaign = source_images.campaign
    delivered, skipped = _shots_to_deliver(generated_clips, campaign.manifest.on_failed_shots)
    spec = campaign.manifest.deliverable
    spec = _poster_on_a_delivered_shot(spec, skipped)
    gate = ReviewGate(store, campaign, delivered)
    width, height = frame_size(campaign.manifest.resolution, campaign.manifest.aspect_ratio)
    runs_before = ffmpeg_runs()
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="deliverable-")))
        clips = [(c.shot, stack.enter_context(store.local_file(c.clip_key))) for c in delivered]
        soundtrack = soundtrack_sha = None
        if spec.soundtrack:
            source = source_images.files[spec.soundtrack]
            soundtrack, soundtrack_sha = stack.enter_context(store.local_file(source.key)), source.sha256
        assembly = AssemblySpec(
            **spec.model_dump(exclude={"soundtrack"}),
            width=width,
            height=height,
            cache_dir=Path(tempfile.gettempdir()) / "media_pipeline-segments",
        )
        digests = {shot: file_digest(path) for shot, path in clips}  # once: the inputs key and the segment cache
        inputs = inputs_key(CODE_VERSION, assembly, digests, soundtrack_sha, list(skipped))
        record = gate.reusable(reusable_set(store, campaign.campaign_id, inputs), inputs)
        if record is not None:
            renditions, poster, sheet = _stored_files(stack, store, record)
            infos = [probe(path) for path in renditions]
            made: dict[str, object] = {"reused": True}
            if repair_stable_names(store, record):
                context.log.warning(
                    "campaign %r: the stable names showed an older set (a run stopped between switching the pointer "
                    "and them); switched to version %s",
                    campaign.campaign_id,
                    record.version,
                )
        else:
            result = assemble(
                clips, work, spec=assembly, name=campaign.campaign_id, soundtrack=soundtrack, digests=digests
            )
            upload = stack.enter_context(publishing(store, campaign.campaign_id, gate.made_from))
            published = [
                DeliverableFile(
                    aspect=r.aspect, key=upload.put(r.path), width=r.width, height=r.height, duration=r.duration
                )
                for r in result.renditions
            ]
            poster_key, sheet_key = upload.put(result.poster), upload.put(result.contact_sheet)
            record = upload.switch(
                Deliverable(
                    campaign=campaign.campaign_id,
                    master_key=published[0].key,
                    renditions=published,
                    poster_key=poster_key,
                    contact_sheet_key=sheet_key,
                    duration=result.duration,
                    sha256=file_digest(result.renditions[0].path),
                    shot_offsets=result.shot_offsets,
                    skipped_shots=skipped,
                    inputs=inputs,
                )
            )
            infos, poster, sheet = [r.info for r in result.renditions], result.poster, result.contact_sheet
            made = {
                "reused": False,
                "stream_copied": result.stream_copied,
                "loudness_lufs": result.loudness_lufs if result.loudness_lufs is not None else "silent",
            }
        probes = {}
        for published_file, info in zip(record.renditions, infos, strict=True):
            wanted = rendition_size(width, height, published_file.aspect)  # what the spec asks for, not what was made
            probes[published_file.aspect] = (info, ConformSpec(width=wanted[0], height=wanted[1], fps=spec.fps))
        previews = {  # shown in place in the UI
            "poster_thumbnail": inline_thumbnail(poster, "poster"),
            "contact_sheet_thumbnail": inline_thumbnail(sheet, "contact sheet"),
        }
    review = gate.settle(record)
    context.log.info(
        "campaign %r %s: %s (version %s%s)",
        campaign.campaign_id,
        "delivered" if review.published else "drafted, awaiting approval",
        store.uri(stable_key(campaign.campaign_id, record.master_key) if review.published else record.master_key),
        record.version,
        ", unchanged inputs: reused" if made["reused"] else "",
    )
    return MaterializeResult(
        value=record,
        data_version=DataVersion(record.sha256[:16]),
        check_results=[
            deliverable_conformant(campaign.campaign_id, probes),
            deliverable_complete(record),
            gate.check(review),
        ],
        metadata={
            **gate.metadata(record, review),  # path, pointer: the stable names once published, else the draft
            "version": record.version,
            "duration_s": round(record.duration, 3),
            "renditions": MetadataValue.md(
                "\n".join(
                    f"- {f.aspect}: {f.width}x{f.height}, {f.duration:.2f}s — `{store.uri(f.key)}`"
                    for f in record.renditions
                )
            ),
            "poster": MetadataValue.path(store.uri(record.poster_key)),
            "contact_sheet": MetadataValue.path(store.uri(record.contact_sheet_key)),
            **previews,
            **made,
            "ffmpeg_runs": ffmpeg_runs() - runs_before,
            **_campaign_totals(generated_clips),
            "shots": len(delivered),
            "skipped_shots": ", ".join(skipped) or "none",
        },
    )
