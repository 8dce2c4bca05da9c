"""The review gate: a campaign with ``review: required`` publishes only the exact set somebody approved.

Its deliverable step uploads the set as a draft (``publish.Draft``: a whole version folder, named by
``deliverables/<campaign>/draft.json``, not by ``current.json``). ``approve`` checks that the draft is still what
the campaign's latest records would deliver, keeps an ``Approval`` naming the draft's version, each delivered
shot's clip cache key and the deliverable spec's hash at ``deliverables/<campaign>/approval.json``, and then
switches the pointer to that version: no clip is requested and no file is encoded. A later change (another clip,
take or spec) makes a new draft with another version, which the kept approval does not name: it is void, the
approved set stays current, and the new draft waits for its own approval. It uses no Dagster API: records are
read as the IO manager stores them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from ..campaign import CampaignError, Manifest
from ..records import Deliverable, GeneratedClips, ShotClip, SourceImages
from .io_manager import read_record
from .publish import Draft, ReviewKey, SetUpload, campaign_folder, current_deliverable, draft_key, draft_set
from .store import MediaStore, StoreError

APPROVAL = "approval.json"
ReviewStatus = Literal["not required", "awaiting approval", "approved", "published without approval"]


class ReviewError(CampaignError):
    """An approval that cannot be given; the message names the campaign and what to do."""


class Approval(ReviewKey):
    """What was approved: the draft's version, its clips and spec, and when."""

    campaign: str
    version: str
    inputs: str  # the set's inputs hash (assets/delivery_reuse.py)
    approved_at: datetime
    run_id: str = ""  # the Dagster run that approved it
    approved_by: str = ""  # who approved it, as they named themselves (the CLI: their login name)


def approval_key(campaign: str) -> str:
    return f"{campaign_folder(campaign)}/{APPROVAL}"


def spec_sha256(manifest: Manifest) -> str:
    """The hash of what shapes the deliverable besides its clips: the ``deliverable:`` spec and the frame."""
    spec = manifest.deliverable.model_dump_json()
    return hashlib.sha256(f"{spec} {manifest.resolution} {manifest.aspect_ratio}".encode()).hexdigest()


def review_key(manifest: Manifest, delivered: list[ShotClip]) -> ReviewKey:
    """What a set made from ``delivered`` (the shots with a clip, in order) under ``manifest`` is made from."""
    return ReviewKey(clips={c.shot: c.cache_key or "" for c in delivered}, spec_sha256=spec_sha256(manifest))


def latest_review_key(store: MediaStore, campaign: str) -> ReviewKey | None:
    """What the campaign's latest records would deliver now, or None when a stage has no record yet."""
    try:
        sources = read_record(store, "source_images", campaign, SourceImages)
        clips = read_record(store, "generated_clips", campaign, GeneratedClips)
    except KeyError:
        return None
    return review_key(sources.campaign.manifest, [c for c in clips.clips if c.status != "failed"])


def read_approval(store: MediaStore, campaign: str) -> Approval | None:
    try:
        return Approval.model_validate_json(store.get_bytes(approval_key(campaign)))
    except KeyError:
        return None


def changes(before: ReviewKey, after: ReviewKey) -> list[str]:
    """What differs between two sets' clips and spec, in words: ``shot 's2' has another clip`` ..."""
    found = [f"shot {s!r} has another clip" for s, key in after.clips.items() if before.clips.get(s, key) != key]
    found += [f"shot {s!r} was added" for s in after.clips if s not in before.clips]
    found += [f"shot {s!r} was left out" for s in before.clips if s not in after.clips]
    if before.clips.keys() == after.clips.keys() and list(before.clips) != list(after.clips):
        found.append("the shots are in another order")
    if before.spec_sha256 != after.spec_sha256:
        found.append("the deliverable spec changed")
    return found


@dataclass(frozen=True)
class ReviewState:
    """Where a campaign's set stands: its status, the version concerned, and a sentence for people."""

    status: ReviewStatus
    version: str
    detail: str
    approval: Approval | None = None

    @property
    def published(self) -> bool:
        return self.status != "awaiting approval"


def review_state(campaign: str, record: Deliverable, draft: Draft | None, approval: Approval | None) -> ReviewState:
    """Where ``record`` stands: the draft awaiting approval, the approved set, or a set published without one."""
    if draft is not None and draft.deliverable.version == record.version:
        detail = f"campaign {campaign!r}: awaiting approval: version {record.version}; the published set stays current"
        if approval is not None:
            why = "; ".join(changes(approval, draft)) or "it was made again"
            detail += f". The approval of version {approval.version} does not apply to it: {why}"
        return ReviewState("awaiting approval", record.version, detail, approval)
    if approval is not None and approval.version == record.version:
        when = f"{approval.approved_at:%Y-%m-%d %H:%M} UTC" + (
            f" by {approval.approved_by}" if approval.approved_by else ""
        )
        return ReviewState(
            "approved", record.version, f"campaign {campaign!r}: version {record.version} approved {when}", approval
        )
    return ReviewState(
        "published without approval",
        record.version,
        f"campaign {campaign!r}: version {record.version} was published without an approval (before review: "
        "required); the next change waits for one",
    )


def settle_review(store: MediaStore, campaign: str, record: Deliverable, made_from: ReviewKey | None) -> ReviewState:
    """The state of ``record``, the set a deliverable step just drafted, reused or published.

    ``made_from`` is None when the campaign needs no review. A step that lands on another set than the draft
    (the change was undone) discards the draft, so nothing stale waits for approval.
    """
    if made_from is None:
        return ReviewState("not required", record.version, f"campaign {campaign!r}: published without review")
    draft = draft_set(store, campaign)
    if draft is not None and draft.deliverable.version != record.version:
        store.delete(draft_key(campaign))
        draft = None
    return review_state(campaign, record, draft, read_approval(store, campaign))


class ReviewSummary(BaseModel):
    """What ``media-pipeline review`` prints, and a run's ``review``: the status and where to preview the set."""

    campaign: str
    status: ReviewStatus
    version: str
    detail: str
    preview: list[str]  # the set's files: paths, or signed https URLs on S3
    approval: Approval | None = None


def current_review(store: MediaStore, campaign: str) -> ReviewSummary | None:
    """The campaign's review as the store shows it (changing nothing): its draft, else its current set."""
    draft = draft_set(store, campaign)
    record = draft.deliverable if draft else current_deliverable(store, campaign)
    if record is None:
        return None
    state = review_state(campaign, record, draft, read_approval(store, campaign))
    latest = latest_review_key(store, campaign)
    stale = changes(draft, latest) if draft and latest else []
    detail = state.detail + (f". It is stale: since it was made, {'; '.join(stale)}" if stale else "")
    ttl = store.url_ttl_seconds
    preview = [store.fetch_url(key, ttl) if ttl else store.uri(key) for key in record.keys]
    return ReviewSummary(
        campaign=campaign,
        status=state.status,
        version=state.version,
        detail=detail,
        preview=preview,
        approval=state.approval,
    )


class AwaitingApproval(BaseModel):
    """What ``media-pipeline review --json`` prints without a campaign."""

    awaiting_approval: list[ReviewSummary]


def awaiting_approval(store: MediaStore) -> list[ReviewSummary]:
    """Every campaign whose draft awaits approval, by id (a catalog's SKUs to review): one listing, reads per draft."""
    drafted = (c for c in store.list_children("deliverables/") if store.exists(draft_key(c)))
    return [review for review in (current_review(store, c) for c in drafted) if review is not None]


def no_draft(store: MediaStore, campaign: str) -> ReviewError:
    """The refusal to approve a campaign that has no draft, saying what is current instead."""
    current = current_deliverable(store, campaign)
    now = f"version {current.version} is current" if current else "nothing was published"
    return ReviewError(
        f"campaign {campaign!r}: no draft awaits approval ({now}); a run of a campaign with review: required makes one"
    )


def approve(
    store: MediaStore, campaign: str, version: str = "", run_id: str = "", approved_by: str = ""
) -> tuple[Approval, Deliverable]:
    """Approve the campaign's draft and make it the current set (returned with the approval); ``version``, when
    given, must be the draft's; ``approved_by`` names the approver in the record.

    Refuses, naming the campaign, when there is no draft, when ``version`` is not the draft awaiting approval,
    when the campaign's latest clips or spec differ from the draft's (a stale draft: run the campaign again), or
    when a file of the draft is gone. Reads and writes only the store: nothing is generated or encoded.
    """
    draft = draft_set(store, campaign)
    if draft is None:
        raise no_draft(store, campaign)
    drafted = draft.deliverable.version
    if version and version != drafted:
        raise ReviewError(
            f"campaign {campaign!r}: version {version} is not the draft awaiting approval (version {drafted} is); "
            "preview it, then approve that version"
        )
    latest = latest_review_key(store, campaign)
    stale = changes(draft, latest) if latest is not None else []
    if stale:
        raise ReviewError(
            f"campaign {campaign!r}: the draft (version {drafted}) is stale: since it was made, {'; '.join(stale)}. "
            "Run the campaign to make a new draft, then approve it"
        )
    missing = [key for key in draft.deliverable.keys if not store.exists(key)]
    if missing:
        raise ReviewError(
            f"campaign {campaign!r}: the draft (version {drafted}) is not whole: {store.uri(missing[0])} is gone. "
            "Run the campaign to make it again"
        )
    approval = Approval(
        campaign=campaign,
        version=drafted,
        inputs=draft.deliverable.inputs,
        approved_at=datetime.now(UTC),
        run_id=run_id,
        approved_by=approved_by,
        clips=draft.clips,
        spec_sha256=draft.spec_sha256,
    )
    store.put_bytes(approval_key(campaign), approval.model_dump_json(indent=1).encode("utf-8"))
    try:
        return approval, SetUpload(store, campaign, version=drafted).switch(draft.deliverable)
    except StoreError as exc:
        raise StoreError(f"campaign {campaign!r}: approved version {drafted} not published: {exc}") from None
