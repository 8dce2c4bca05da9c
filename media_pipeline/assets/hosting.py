"""``hosted_images``: every valid source image in the store with a URL the video API can fetch, or as an xAI file.

On S3 that is a presigned https URL whose lifetime outlives the generation queue; the record keeps the key and the
expiry, and ``image_url`` re-signs a URL that would expire before it is used instead of handing out a stale one.
Locally the URL is a ``data:`` URL made at use, so nothing large sits in the record. With ``hosting: xai_files`` (a
store the API cannot reach) nothing is signed: the xAI generator uploads each picture when a request first needs it
(``resources/xai/files.py``), so sources, chained last frames and reference images go one way; a campaign asking for
it with another generator is refused here, before anything is paid.
"""

from datetime import UTC, datetime, timedelta

from dagster import AssetExecutionContext, Failure, MaterializeResult

from ..campaign import MANIFEST_NAME
from ..records import HostedImage, HostedImages, SourceImages
from ..resources.generator import VideoGenerator
from ..resources.store import MediaStore
from ._common import campaign_asset
from .metadata import shot_table
from .sources import STORE_RETRY


def sign(store: MediaStore, key: str, sha256: str) -> HostedImage:
    """Host ``key``: a URL and its expiry when the store signs URLs, else the key alone (URL made at use)."""
    ttl = store.url_ttl_seconds
    if ttl is None:
        return HostedImage(key=key, sha256=sha256)
    expires = datetime.now(UTC) + timedelta(seconds=ttl)
    return HostedImage(key=key, sha256=sha256, url=store.fetch_url(key, ttl), expires_at=expires)


def image_url(store: MediaStore, hosted: HostedImage, needed_seconds: float) -> str:
    """The URL to hand the generator: the recorded one while it stays valid ``needed_seconds`` more, else anew."""
    if hosted.url and hosted.expires_at and hosted.expires_at > datetime.now(UTC) + timedelta(seconds=needed_seconds):
        return hosted.url
    return store.fetch_url(hosted.key, int(max(needed_seconds, store.url_ttl_seconds or 0)))


@campaign_asset(
    kinds={"store"},  # the configured store: s3 or filesystem (see _common)
    code_version="1",
    retry_policy=STORE_RETRY,
)
def hosted_images(
    context: AssetExecutionContext, source_images: SourceImages, store: MediaStore, generator: VideoGenerator
) -> MaterializeResult[HostedImages]:
    """Each valid image of the campaign, hosted in the store under its content hash."""
    campaign = source_images.campaign
    as_files = campaign.manifest.hosting == "xai_files"
    if as_files and generator.kind != "xai":
        raise Failure(
            description=f"campaign {campaign.campaign_id!r}, file {MANIFEST_NAME}, key 'hosting': xai_files sends "
            f"images to xAI as files, but the generator is {generator.kind!r}; use hosting: url or "
            "MEDIA_PIPELINE_GENERATOR=xai",
            allow_retries=False,  # a setting, not a passing fault of the store
        )
    images = {
        name: HostedImage(key=f.key, sha256=f.sha256) if as_files else sign(store, f.key, f.sha256)
        for name, f in source_images.files.items()
        if f.key and f.sha256 and f.key.endswith(".png")
    }
    record = HostedImages(campaign=context.partition_key, images=images)

    def expiry(hosted: HostedImage) -> object:
        return "xAI file, uploaded at submission" if as_files else hosted.expires_at or "at use (data: URL)"

    return MaterializeResult(
        value=record,
        metadata={
            "hosted": len(images),
            "hosting": campaign.manifest.hosting,
            "images": shot_table(
                [{"file": n, "location": store.uri(h.key), "url_expires": expiry(h)} for n, h in images.items()]
            ),
        },
    )
