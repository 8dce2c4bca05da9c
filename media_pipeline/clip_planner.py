"""Each take's request, built complete: its source (a dropped image, or the last frame of the picked take of the
shot it is chained to), its pinned images, its cache key (``planning.cache_key``).

The run hands in how a new last frame is hosted and how URLs are signed (``assets/hosting.py``), so this module
imports no Dagster; without ``host`` the planner is a dry run that stores nothing (the estimate).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .clip_request import ClipRequest, ClipSpec, KeyframeImage, ShotFailed
from .media.files import file_digest
from .media.frames import extract_frame
from .planning import Plan, Take, cache_key
from .records import HostedImage, HostedImages, SourceImages
from .shots import ResolvedShot

if TYPE_CHECKING:
    from .resources.store import MediaStore


class ClipPlanner:
    """Builds the request of each take, resolving its source (a dropped image or the previous clip's last frame).

    ``host`` hosts a stored last frame for a chained shot (``sign`` in ``assets/hosting.py``); without it the
    planner is a dry run that stores nothing (the estimate).
    """

    def __init__(
        self,
        plan: Plan,
        sources: SourceImages,
        hosted: HostedImages,
        store: MediaStore,
        generator_kind: str,
        host: Callable[[str, str], HostedImage] | None = None,
    ):
        self.plan = plan
        self.campaign = plan.campaign
        self.sources = sources
        self.hosted = hosted
        self.store = store
        self.generator_kind = generator_kind
        self.host = host
        self._frames: dict[str, HostedImage] = {}
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
            if self.host is not None:
                self.store.put_file(key, frame, skip_if_exists=True)
        hosted = HostedImage(key=key, sha256=sha) if self.host is None else self.host(key, sha)
        with self._lock:
            self._frames[clip_key] = hosted
        return hosted

    def source(self, shot: ResolvedShot, previous_clip_key: str | None) -> HostedImage:
        """Where the shot starts: its image, or for a chained shot the previous shot's picked clip's last frame."""
        if not shot.chain:
            assert shot.image is not None  # the manifest requires an image on a shot that is not chained
            return self._dropped(shot, shot.image)
        if previous_clip_key is None:
            raise ShotFailed(f"{self._where(shot)}: chained to the previous shot, which has no clip")
        return self.last_frame_of(previous_clip_key)

    def spec(self, take: Take) -> ClipSpec:
        """What ``take`` asks for apart from its source (``ShotFailed`` when an image it pins is unusable)."""
        shot, manifest = take.shot, self.campaign.manifest
        end = self._dropped(shot, shot.end_image) if shot.end_image else None
        return ClipSpec(
            prompt=self.campaign.full_prompt(shot),
            model=take.model,
            duration=shot.duration,
            resolution=manifest.resolution,
            aspect_ratio=manifest.aspect_ratio,
            last_frame_key=end.key if end else None,
            generate_audio=shot.audio,
            keyframes=tuple(
                KeyframeImage(key=self._dropped(shot, k.image).key, timestamp=k.timestamp) for k in shot.keyframes
            ),
            reference_keys=tuple(self._dropped(shot, name).key for name in shot.reference_images),
        )

    def request(self, take: Take, source: HostedImage) -> ClipRequest:
        """The complete request of ``take`` starting on ``source`` (URLs are added at submission: ``with_urls``)."""
        shot, spec = take.shot, self.spec(take)
        sha = self._sha256
        extras: dict[str, object] = {}
        if not shot.audio:
            extras["audio"] = False
        if spec.keyframes:
            extras["keyframes"] = [[sha(k.key), k.timestamp] for k in spec.keyframes]
        if spec.reference_keys:
            extras["references"] = [sha(key) for key in spec.reference_keys]
        end_sha = sha(spec.last_frame_key) if spec.last_frame_key else None
        key = cache_key(self.generator_kind, source.sha256, end_sha, spec.prompt, self.campaign, take, extras)
        return ClipRequest(
            **spec.model_dump(),
            campaign=self.campaign.campaign_id,
            shot=shot.shot_id,
            take=take.number,
            cache_key=key,
            image_key=source.key,
            image_url="",
            hosting=self.campaign.manifest.hosting,
        )

    def _sha256(self, key: str) -> str:
        return next(h.sha256 for h in self.hosted.images.values() if h.key == key)

    def with_urls(self, request: ClipRequest, url: Callable[[HostedImage], str]) -> ClipRequest:
        """``request`` ready to submit, each image's URL from ``url``; made only for takes that are generated, so
        cached takes cost no signing or encoding."""
        with self._lock:
            hosted = {h.key: h for h in [*self.hosted.images.values(), *self._frames.values()]}
        last = request.last_frame_key
        return request.model_copy(
            update={
                "image_url": url(hosted[request.image_key]),
                "last_frame_url": url(hosted[last]) if last else None,
                "keyframes": tuple(k.model_copy(update={"url": url(hosted[k.key])}) for k in request.keyframes),
                "reference_urls": tuple(url(hosted[key]) for key in request.reference_keys),
            }
        )
