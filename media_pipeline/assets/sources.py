"""``source_images``: read a campaign's drop, validate the manifest, normalize every image it names.

Normalizing (EXIF orientation, sRGB 8-bit, bounded size) happens once here, so the hash that keys the cache and the
pixels the generator sees are the same whatever camera or editor made the file. A file that cannot be a frame is
recorded with its error and the rest go on.
"""


import tempfile
from pathlib import Path, PurePosixPath

from dagster import (
    AssetExecutionContext,
    Backoff,
    DataVersion,
    Failure,
    Jitter,
    MaterializeResult,
    RetryPolicy,
    asset,
)

from ..campaign import CampaignError, is_image_name, load_campaign
from ..checks import IMAGES_VALID, images_valid
from ..media.images import normalize_image
from ..partitions import campaign_partitions
from ..records import SourceFile, SourceImages
from ..resources.drops import DropZone
from ..resources.storage import MediaStore
from .metadata import digest, file_sha256, shot_table

STORE_RETRY = RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.FULL)


def _store_image(drops: DropZone, store: MediaStore, campaign: str, name: str, tmp: Path) -> SourceFile:
    """Fetch, normalize and store one image; a refused image comes back with its error, naming campaign and file."""
    raw = drops.fetch(campaign, name, tmp / f"raw{PurePosixPath(name).suffix}")
    try:
        info = normalize_image(raw, tmp / "normalized.png")
    except Exception as exc:  # the message of the decoder is what tells the user what is wrong
        return SourceFile(file=name, error=f"campaign {campaign!r}, file {drops.location(campaign, name)}: {exc}")
    key = f"sources/{info.sha256}.png"
    store.put_file(key, tmp / "normalized.png", skip_if_exists=True)
    return SourceFile(file=name, key=key, sha256=info.sha256, width=info.width, height=info.height)


def _store_raw(drops: DropZone, store: MediaStore, campaign: str, name: str, tmp: Path) -> SourceFile:
    """Store a non-image file (the soundtrack) as dropped, content-addressed."""
    suffix = PurePosixPath(name).suffix.lower()
    raw = drops.fetch(campaign, name, tmp / f"raw{suffix}")
    sha = file_sha256(raw)
    key = f"sources/{sha}{suffix}"
    store.put_file(key, raw, skip_if_exists=True)
    return SourceFile(file=name, key=key, sha256=sha)


@asset(
    partitions_def=campaign_partitions,
    group_name="media",
    kinds={"python", "pillow"},
    code_version="1",
    io_manager_key="records_io_manager",
    retry_policy=STORE_RETRY,
    check_specs=[IMAGES_VALID],
)
def source_images(context: AssetExecutionContext, drops: DropZone, store: MediaStore):  # -> MaterializeResult[record]
    """The campaign's manifest, validated, and every image it names, normalized and stored by content hash."""
    campaign_id = context.partition_key
    try:
        campaign = load_campaign(
            campaign_id, [f.name for f in drops.list_files(campaign_id)], drops.read_manifest(campaign_id)
        )
    except CampaignError as exc:  # bad input: retrying cannot help, and the message says what to fix
        raise Failure(description=str(exc), allow_retries=False) from None
    files: dict[str, SourceFile] = {}
    for name in campaign.referenced_files():
        with tempfile.TemporaryDirectory(prefix="source-") as tmp:
            store_one = _store_image if is_image_name(name) else _store_raw
            files[name] = store_one(drops, store, campaign_id, name, Path(tmp))
        if files[name].error:
            context.log.error(files[name].error)
    record = SourceImages(campaign=campaign, files=files)
    return MaterializeResult(
        value=record,
        data_version=DataVersion(digest(f.sha256 or f.error or "" for f in files.values())),
        check_results=[images_valid(record)],
        metadata={
            "shots": len(campaign.shots),
            "files": shot_table(
                [{"file": f.file, "key": f.key or "", "size": f"{f.width}x{f.height}", "error": f.error or ""}
                 for f in files.values()]
            ),
            "refused": sum(1 for f in files.values() if f.error),
        },
    )
