"""How a campaign's shots become generator requests: cache keys, chained lanes, and the cost estimate.

Shots split into lanes: a shot with ``chain: true`` continues the lane of the shot before it, because it starts
from that clip's exact last frame; every other shot starts a lane. Lanes run in parallel, the shots of a lane in
order. A clip's cache key hashes everything that shapes it (generator, source pixels, pinned last frame, full
prompt with style, model, duration, resolution, aspect ratio; a silent clip, keyframes and reference images by
their pixels only when a shot asks for them, so the keys of earlier clips stay valid), so a key already in the
store is never paid for again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from pathlib import Path

from ..campaign import Campaign, ResolvedShot
from ..media.files import file_digest
from ..media.frames import extract_frame
from ..records import HostedImage, HostedImages, SourceImages
from ..resources.generator import ClipRequest, KeyframeImage, ShotFailed, VideoGenerator
from ..resources.store import MediaStore
from ..resources.xai.batch import batch_price_usd
from ..resources.xai.journal import journal_key, read_entry
from .hosting import image_url, sign

QUEUE_SECONDS = 3600  # a hosted URL must stay valid this long after submission: queue plus generation


def lanes(shots: list[ResolvedShot]) -> list[list[ResolvedShot]]:
    """Group shots into lanes: each chained shot joins the lane of the shot before it."""
    grouped: list[list[ResolvedShot]] = []
    for shot in shots:
        if shot.chain and grouped:
            grouped[-1].append(shot)
        else:
            grouped.append([shot])
    return grouped


def cache_key(
    generator: str,
    source_sha: str,
    end_sha: str | None,
    prompt: str,
    campaign: Campaign,
    shot: ResolvedShot,
    extras: dict[str, object] | None = None,
) -> str:
    """The content address of a clip: same inputs, same key, same stored clip. ``extras``: the options a shot sets
    beyond the defaults (absent at their defaults, so a default clip keeps its key)."""
    parts: dict[str, object] = {
        "generator": generator,
        "source": source_sha,
        "end": end_sha,
        "prompt": prompt,
        "model": campaign.manifest.model,
        "duration": shot.duration,
        "resolution": campaign.manifest.resolution,
        "aspect_ratio": campaign.manifest.aspect_ratio,
        **(extras or {}),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


class ClipPlanner:
    """Builds the request for each shot, resolving its source (a dropped image or the previous clip's last frame)."""

    def __init__(
        self,
        sources: SourceImages,
        hosted: HostedImages,
        store: MediaStore,
        generator: VideoGenerator,
        dry_run: bool = False,
    ):
        """``dry_run``: the planner only reads the store (an estimate stores no chained shot's last frame)."""
        self.dry_run = dry_run
        self.campaign = sources.campaign
        self.sources = sources
        self.hosted = hosted
        self.store = store
        self.generator = generator
        self._frames: dict[str, HostedImage] = {}
        self._requests: dict[tuple[str, str], ClipRequest] = {}
        self._lock = threading.Lock()

    def _where(self, shot: ResolvedShot) -> str:
        return f"campaign {self.campaign.campaign_id!r}, shot {shot.shot_id!r}"

    def _dropped(self, shot: ResolvedShot, file: str) -> HostedImage:
        hosted = self.hosted.images.get(file)
        if hosted is None:
            error = self.sources.files[file].error or "it was not hosted"
            raise ShotFailed(f"{self._where(shot)}: source file {file} is unusable: {error}")
        return hosted

    def last_frame_of(self, clip_key: str) -> HostedImage:
        """The exact last frame of a stored clip, stored and hosted like a source image (once per clip)."""
        with self._lock:
            if clip_key in self._frames:
                return self._frames[clip_key]
        with tempfile.TemporaryDirectory(prefix="chain-") as tmp, self.store.local_file(clip_key) as clip:
            frame = extract_frame(clip, Path(tmp) / "last.png", which="last")
            sha = file_digest(frame)
            key = f"sources/{sha}.png"
            if not self.dry_run:
                self.store.put_file(key, frame, skip_if_exists=True)
        hosted = HostedImage(key=key, sha256=sha) if self.dry_run else sign(self.store, key, sha)
        with self._lock:
            self._frames[clip_key] = hosted
        return hosted

    def source(self, shot: ResolvedShot, previous_clip_key: str | None) -> HostedImage:
        """Where the shot starts: its image, or for a chained shot the previous clip's last frame."""
        if not shot.chain:
            return self._dropped(shot, shot.image)
        if previous_clip_key is None:
            raise ShotFailed(f"{self._where(shot)}: chained to the previous shot, which has no clip")
        return self.last_frame_of(previous_clip_key)

    def request(self, shot: ResolvedShot, source: HostedImage) -> ClipRequest:
        """The request for ``shot`` starting on ``source``, without URLs (see ``with_urls``); built once."""
        with self._lock:
            known = self._requests.get((shot.shot_id, source.key))
        if known is not None:
            return known
        manifest = self.campaign.manifest
        end = self._dropped(shot, shot.end_image) if shot.end_image else None
        prompt = self.campaign.full_prompt(shot)
        keyframes = [(self._dropped(shot, k.image), k.timestamp) for k in shot.keyframes]
        references = [self._dropped(shot, name) for name in shot.reference_images]
        extras: dict[str, object] = {}
        if not shot.audio:
            extras["audio"] = False
        if keyframes:
            extras["keyframes"] = [[image.sha256, at] for image, at in keyframes]
        if references:
            extras["references"] = [image.sha256 for image in references]
        request = ClipRequest(
            campaign=self.campaign.campaign_id,
            shot=shot.shot_id,
            cache_key=cache_key(
                self.generator.kind, source.sha256, end.sha256 if end else None, prompt, self.campaign, shot, extras
            ),
            prompt=prompt,
            model=manifest.model,
            image_key=source.key,
            image_url="",
            duration=shot.duration,
            resolution=manifest.resolution,
            aspect_ratio=manifest.aspect_ratio,
            last_frame_key=end.key if end else None,
            generate_audio=shot.audio,
            keyframes=tuple(KeyframeImage(key=image.key, timestamp=at) for image, at in keyframes),
            reference_keys=tuple(image.key for image in references),
        )
        with self._lock:
            self._requests[(shot.shot_id, source.key)] = request
        return request

    def with_urls(self, request: ClipRequest, needed_seconds: float = QUEUE_SECONDS) -> ClipRequest:
        """``request`` ready to submit: URLs for its images, fresh enough to outlive the queue.

        Made only for shots that are generated, so cached shots cost no signing or encoding.
        """
        with self._lock:
            hosted = {h.key: h for h in [*self.hosted.images.values(), *self._frames.values()]}
        last = request.last_frame_key

        def url(key: str) -> str:
            return image_url(self.store, hosted[key], needed_seconds)

        return request.model_copy(
            update={
                "image_url": url(request.image_key),
                "last_frame_url": url(last) if last else None,
                "keyframes": tuple(k.model_copy(update={"url": url(k.key)}) for k in request.keyframes),
                "reference_urls": tuple(url(key) for key in request.reference_keys),
            }
        )

    def already_paid(self, cache_key_: str) -> bool:
        """True when the journal holds a paid request for this clip that a run can finish without paying again."""
        entry = read_entry(self.store, journal_key(self.campaign.campaign_id, cache_key_))
        return entry is not None and entry.cache_key == cache_key_ and entry.paid_and_pending

    def estimate(self) -> tuple[float, int]:
        """Dry run: (USD, shots) for the shots whose clips are neither in the store nor paid for in the journal
        (a journaled request is finished at no cost); nothing is submitted."""
        total, count = 0.0, 0
        planned: set[str] = set()  # identical shots share one clip and one payment
        for lane in lanes(self.campaign.shots):
            previous: str | None = None
            for shot in lane:
                if shot.chain and previous is None:  # starts from a clip not made yet: cannot be cached
                    total += self.price_usd(self._placeholder(shot))
                    count += 1
                    continue
                try:
                    request = self.request(shot, self.source(shot, previous))
                except ShotFailed:  # fails before submission, costs nothing
                    previous = None
                    continue
                previous = request.clip_key if self.store.exists(request.clip_key) else None
                if previous is None and request.cache_key not in planned:
                    planned.add(request.cache_key)
                    if not self.already_paid(request.cache_key):
                        total += self.price_usd(request)
                        count += 1
        return total, count

    def price_usd(self, request: ClipRequest) -> float:
        """What ``request`` would cost: the generator's estimate, or the catalog's batch price in batch mode."""
        if self.campaign.manifest.mode == "batch" and self.generator.kind == "xai":
            return batch_price_usd(request)
        return self.generator.estimate_usd(request)

    def _placeholder(self, shot: ResolvedShot) -> ClipRequest:
        manifest = self.campaign.manifest
        return ClipRequest(
            campaign=self.campaign.campaign_id,
            shot=shot.shot_id,
            cache_key="",
            prompt="",
            model=manifest.model,
            image_key="",
            image_url="",
            duration=shot.duration,
            resolution=manifest.resolution,
            aspect_ratio=manifest.aspect_ratio,
            last_frame_key=shot.end_image,
            generate_audio=shot.audio,
            keyframes=tuple(KeyframeImage(key=k.image, timestamp=k.timestamp) for k in shot.keyframes),
            reference_keys=tuple(shot.reference_images),
        )
