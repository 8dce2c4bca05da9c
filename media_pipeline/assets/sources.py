"""``source_images``: read a campaign's drop, validate the manifest, normalize every image it names.

Normalizing (EXIF orientation, sRGB 8-bit, bounded size) happens once here, so the hash that keys the cache and the
pixels the generator sees are the same whatever camera or editor made the file. Everything knowable before paying
is settled here: a shot image that is not one the pipeline takes (format, decodability, the API's size limit once
hosted, a symlink out of the drop) is recorded with its error and the other shots go on; a soundtrack that is not
decodable audio refuses the whole campaign, since no deliverable could be made from it. A catalog row's campaign
(``catalog_feed.py``) is read the same way through the drop zone; a refused row, or a refused image of a row, fails
its run alone with the catalog's row and column named, and its metadata names the catalog, row and sku.
"""

import tempfile
import warnings
from pathlib import Path, PurePosixPath

from dagster import (
    AssetExecutionContext,
    Backoff,
    DataVersion,
    Failure,
    Jitter,
    MaterializeResult,
    RetryPolicy,
)
from PIL import Image

from ..campaign import IMAGE_EXTENSIONS, Campaign, CampaignError, is_image_name, load_campaign
from ..checks import IMAGES_VALID, images_valid
from ..media.errors import MediaError
from ..media.files import file_digest
from ..media.images import normalize_image
from ..media.probe import probe
from ..records import SourceFile, SourceImages
from ..resources.drops import DropRefused, DropZone, drop_fingerprint
from ..resources.store import MediaStore
from ..resources.xai.catalog import MAX_IMAGE_BYTES
from ._common import campaign_asset
from .metadata import digest, shot_table

STORE_RETRY = RetryPolicy(max_retries=2, delay=2, backoff=Backoff.EXPONENTIAL, jitter=Jitter.FULL)
MIB = 1 << 20
CONTENT_FORMATS = ("JPEG", "MPO", "PNG", "WEBP")  # Pillow's names for what IMAGE_EXTENSIONS promise


def _problem(exc: Exception, raw: Path, name: str) -> str:
    """The decoder's reason, with the temporary copy's path replaced by the dropped file's name."""
    return str(exc).replace(f"{raw}: ", "").replace(str(raw), name)


def _foreign_format(raw: Path) -> str | None:
    """The format of a file whose content is an image of a kind the pipeline does not take, whatever its name says
    (a TIFF named ``.png``; an EPS, which Pillow would hand to Ghostscript); None otherwise, including when Pillow
    cannot tell (``normalize_image`` then says why). Only the header is read."""
    try:
        with warnings.catch_warnings(), Image.open(raw) as image:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return None if image.format in CONTENT_FORMATS else image.format
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _store_image(drops: DropZone, store: MediaStore, campaign: str, name: str, tmp: Path) -> SourceFile:
    """Fetch, normalize and store one image; a refused image comes back with its reason (the file is its key)."""
    if not is_image_name(name):
        kind = PurePosixPath(name).suffix.lstrip(".").upper() or "a file without an extension"
        return SourceFile(
            file=name, error=f"{kind} is not an image format the pipeline takes ({', '.join(IMAGE_EXTENSIONS)})"
        )
    raw = drops.fetch(campaign, name, tmp / f"raw{PurePosixPath(name).suffix}")
    foreign = _foreign_format(raw)
    if foreign:
        return SourceFile(file=name, error=f"the content is {foreign}, an image format the pipeline does not take "
                                           "(JPEG, PNG or WebP), whatever the file name says")  # fmt: skip
    try:
        info = normalize_image(raw, tmp / "normalized.png")
    except MediaError as exc:  # the message of the decoder is what tells the user what is wrong
        return SourceFile(file=name, error=_problem(exc, raw, name))
    size = (tmp / "normalized.png").stat().st_size
    if size > MAX_IMAGE_BYTES:
        return SourceFile(
            file=name,
            error=f"{size / MIB:.1f} MiB once normalized to PNG, over the API's {MAX_IMAGE_BYTES // MIB} MiB limit",
        )
    key = f"sources/{info.sha256}.png"
    store.put_file(key, tmp / "normalized.png", skip_if_exists=True)
    return SourceFile(file=name, key=key, sha256=info.sha256, width=info.width, height=info.height)


def _store_soundtrack(drops: DropZone, store: MediaStore, campaign: str, name: str, tmp: Path) -> SourceFile:
    """Store the soundtrack as dropped, content-addressed, once it is known to hold decodable audio."""
    suffix = PurePosixPath(name).suffix.lower()
    raw = drops.fetch(campaign, name, tmp / f"raw{suffix}")
    try:
        info = probe(raw)
        problem = None if info.has_audio else "has no audio stream"
    except MediaError as exc:
        problem = f"is not decodable audio ({_problem(exc, raw, name)})"
    if problem:
        raise CampaignError(f"campaign {campaign!r}, file {name}: the soundtrack {problem}")
    sha = file_digest(raw)
    key = f"sources/{sha}{suffix}"
    store.put_file(key, raw, skip_if_exists=True)
    return SourceFile(file=name, key=key, sha256=sha)


def store_sources(drops: DropZone, store: MediaStore, campaign: Campaign) -> dict[str, SourceFile]:
    """Every file the campaign reads; the soundtrack first, so a bad one refuses the campaign before any image work.

    ``estimate`` calls it with a scratch store: the content hashes without storing anything.
    """
    soundtrack = campaign.manifest.deliverable.soundtrack
    names = [n for n in campaign.referenced_files() if n != soundtrack]
    files: dict[str, SourceFile] = {}
    for name in ([soundtrack] if soundtrack else []) + names:
        with tempfile.TemporaryDirectory(prefix="source-") as tmp:
            if name == soundtrack:
                files[name] = _store_soundtrack(drops, store, campaign.campaign_id, name, Path(tmp))
                continue
            try:
                files[name] = _store_image(drops, store, campaign.campaign_id, name, Path(tmp))
            except DropRefused as exc:
                files[name] = SourceFile(file=name, error=exc.reason)
    return files


@campaign_asset(
    kinds={"python", "pillow"},
    code_version="1",
    retry_policy=STORE_RETRY,
    check_specs=[IMAGES_VALID],
)
def source_images(context: AssetExecutionContext, drops: DropZone, store: MediaStore):  # -> MaterializeResult[record]
    """The campaign's manifest, validated, and every image it names, normalized and stored by content hash."""
    campaign_id = context.partition_key
    try:
        sku = drops.sku_drop(campaign_id)
        dropped = drops.list_files(campaign_id)
        campaign = load_campaign(campaign_id, [f.name for f in dropped], drops.read_manifest(campaign_id))
        files = store_sources(drops, store, campaign)
    except CampaignError as exc:  # bad input: retrying cannot help, and the message says what to fix
        raise Failure(description=str(exc), allow_retries=False) from None
    refused = [
        f"campaign {campaign_id!r}, file {drops.location(campaign_id, name)}: {f.error}"
        for name, f in files.items()
        if f.error
    ]
    for message in refused:
        context.log.error(message)
    if refused and sku is not None:  # a catalog row's images are all it has: say which row and column at once
        raise Failure(description="; ".join(refused), allow_retries=False)
    record = SourceImages(campaign=campaign, files=files)
    return MaterializeResult(
        value=record,
        data_version=DataVersion(digest(f.sha256 or f.error or "" for f in files.values())),
        check_results=[images_valid(record)],
        metadata={
            "drop_fingerprint": drop_fingerprint(dropped),  # the drop this run read (see sensors.py)
            "shots": len(campaign.shots),
            "files": shot_table(
                [
                    {"file": f.file, "key": f.key or "", "size": f"{f.width}x{f.height}", "error": f.error or ""}
                    for f in files.values()
                ]
            ),
            "refused": len(refused),
            **(
                {
                    "catalog": drops.file_location(sku.drop, sku.catalog.name),
                    "catalog_row": sku.row.number,
                    "sku": sku.row.sku,
                }
                if sku
                else {}
            ),
        },
    )
