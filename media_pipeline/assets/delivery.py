"""``deliverable``: conform every clip to one spec, stitch them in shot order, publish the files.

The heavy lifting is ``media.assemble`` (pure ffmpeg work on local files); this asset gathers the clips from the
store, refuses while any shot lacks a clip (naming them; the clips already made stay for the re-run), publishes
the renditions, poster and contact sheet under ``deliverables/<campaign>/`` and checks what it published.
"""


import base64
import contextlib
import io
import tempfile
from pathlib import Path

from dagster import AssetExecutionContext, DataVersion, Failure, MaterializeResult, MetadataValue, asset
from PIL import Image

from ..checks import DELIVERABLE_CONFORMANT, deliverable_conformant
from ..media.assemble import assemble
from ..media.conform import ConformSpec
from ..media.formats import frame_size
from ..media.probe import probe
from ..media.renditions import rendition_size
from ..partitions import campaign_partitions
from ..records import Deliverable, DeliverableFile, GeneratedClips, SourceImages
from ..resources.storage import MediaStore
from .metadata import file_sha256


def _refuse_incomplete(clips: GeneratedClips) -> None:
    failed = clips.failed
    if failed:
        made = len(clips.clips) - len(failed)
        listing = "; ".join(f"{c.shot}: {c.error}" for c in failed)
        raise Failure(
            description=(
                f"campaign {clips.campaign!r}: {len(failed)} shot(s) have no clip, so no deliverable was made "
                f"({listing}). Fix them and re-run: the {made} clip(s) already made are kept and not paid for again."
            ),
            metadata={"failed_shots": ", ".join(c.shot for c in failed)},
        )


def _thumbnail(path: Path, width: int = 320) -> MetadataValue:
    """A small inline preview of an image for the UI, as Markdown."""
    with Image.open(path) as image:
        image.thumbnail((width, width * 4))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=80)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return MetadataValue.md(f"![{path.name}](data:image/jpeg;base64,{encoded})")


@asset(
    partitions_def=campaign_partitions,
    group_name="media",
    kinds={"ffmpeg"},
    code_version="1",
    io_manager_key="records_io_manager",
    check_specs=[DELIVERABLE_CONFORMANT],
)
def deliverable(
    context: AssetExecutionContext, source_images: SourceImages, generated_clips: GeneratedClips, store: MediaStore
):  # -> MaterializeResult[Deliverable]; with check specs Dagster rejects a return annotation
    """The campaign's finished video: renditions, poster and contact sheet, published to the store."""
    _refuse_incomplete(generated_clips)
    campaign = source_images.campaign
    spec = campaign.manifest.deliverable
    width, height = frame_size(campaign.manifest.resolution, campaign.manifest.aspect_ratio)
    prefix = f"deliverables/{campaign.campaign_id}"
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="deliverable-")))
        clips = [(c.shot, stack.enter_context(store.local_file(c.clip_key))) for c in generated_clips.clips]
        soundtrack = None
        if spec.soundtrack:
            soundtrack = stack.enter_context(store.local_file(source_images.files[spec.soundtrack].key))
        result = assemble(clips, work, spec=spec, name=campaign.campaign_id, width=width, height=height,
                          soundtrack=soundtrack)
        published: list[DeliverableFile] = []
        probes = {}
        for rendition in result.renditions:
            key = f"{prefix}/{rendition.path.name}"
            store.put_file(key, rendition.path)
            published.append(DeliverableFile(aspect=rendition.aspect, key=key, width=rendition.width,
                                             height=rendition.height, duration=rendition.duration))
            wanted = rendition_size(width, height, rendition.aspect)  # what the spec asks for, not what was made
            probes[rendition.aspect] = (probe(rendition.path), ConformSpec(width=wanted[0], height=wanted[1],
                                                                           fps=spec.fps))
        poster_key = f"{prefix}/{result.poster.name}"
        sheet_key = f"{prefix}/{result.contact_sheet.name}"
        store.put_file(poster_key, result.poster)
        store.put_file(sheet_key, result.contact_sheet)
        master = published[0]
        sha = file_sha256(result.renditions[0].path)
        previews = {"poster": _thumbnail(result.poster), "contact_sheet": _thumbnail(result.contact_sheet, 640)}
    record = Deliverable(
        campaign=campaign.campaign_id, master_key=master.key, renditions=published, poster_key=poster_key,
        contact_sheet_key=sheet_key, duration=result.duration, sha256=sha, shot_offsets=result.shot_offsets,
    )
    context.log.info("campaign %r delivered: %s", campaign.campaign_id, store.uri(master.key))
    return MaterializeResult(
        value=record,
        data_version=DataVersion(sha[:16]),
        check_results=[deliverable_conformant(probes)],
        metadata={
            "path": MetadataValue.path(store.uri(master.key)),
            "duration_s": round(result.duration, 3),
            "renditions": MetadataValue.md("\n".join(
                f"- {f.aspect}: {f.width}x{f.height}, {f.duration:.2f}s — `{store.uri(f.key)}`" for f in published
            )),
            "poster": MetadataValue.path(store.uri(poster_key)),
            "contact_sheet": MetadataValue.path(store.uri(sheet_key)),
            "poster_preview": previews["poster"],
            "contact_sheet_preview": previews["contact_sheet"],
            "stream_copied": result.stream_copied,
            "loudness_lufs": result.loudness_lufs if result.loudness_lufs is not None else "silent",
            "shots": len(generated_clips.clips),
        },
    )
