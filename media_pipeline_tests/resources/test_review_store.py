"""Drafts and approvals in the store, on a folder and on SeaweedFS: a draft is a whole version that no reader of
``current.json`` or of the stable names sees; a newer draft replaces it (its files removed); approving switches to
exactly the draft's files, keeps the approval beside them and gives previews a reviewer can open."""

import urllib.request
from pathlib import Path

import pytest

from media_pipeline.records import Deliverable, DeliverableFile
from media_pipeline.resources.publish import ReviewKey, current_deliverable, draft_set, publishing
from media_pipeline.resources.review import ReviewError, approve, current_review, read_approval
from media_pipeline.resources.s3.store import S3MediaStore
from media_pipeline.resources.store import MediaStore


def _set(store: MediaStore, tmp_path: Path, label: str, draft_of: ReviewKey | None = None) -> Deliverable:
    """Publish (or, with ``draft_of``, draft) a three-file set whose bytes say ``label``."""
    folder = tmp_path / label
    folder.mkdir()
    with publishing(store, "c", draft_of) as upload:
        keys = []
        for name in ("c.mp4", "c_poster.jpg", "c_contact_sheet.png"):
            (folder / name).write_bytes(f"{label}:{name}".encode())
            keys.append(upload.put(folder / name))
        return upload.switch(
            Deliverable(
                campaign="c",
                master_key=keys[0],
                renditions=[DeliverableFile(aspect="16:9", key=keys[0], width=2, height=2, duration=1)],
                poster_key=keys[1],
                contact_sheet_key=keys[2],
                duration=1.0,
                sha256="0" * 64,
                inputs=label,
            )
        )


def _versions(store: MediaStore) -> list[str]:
    return store.list_children("deliverables/c/v/")


def test_a_draft_stays_unseen_until_approved_and_approving_switches_to_exactly_its_files(store, tmp_path):
    published = _set(store, tmp_path, "one")
    key = ReviewKey(clips={"s1": "clip-a"}, spec_sha256="spec-1")
    first_draft = _set(store, tmp_path, "two", draft_of=key)
    assert current_deliverable(store, "c") == published and store.get_bytes("deliverables/c/c.mp4") == b"one:c.mp4"
    assert draft_set(store, "c").deliverable == first_draft and first_draft.published_at is None

    newer = ReviewKey(clips={"s1": "clip-b"}, spec_sha256="spec-1")
    draft = _set(store, tmp_path, "three", draft_of=newer)
    assert _versions(store) == [published.version, draft.version]  # the replaced draft's files are gone
    with pytest.raises(ReviewError, match=f"^campaign 'c': version {first_draft.version} is not the draft"):
        approve(store, "c", version=first_draft.version)

    review = current_review(store, "c")
    assert review.status == "awaiting approval" and review.version == draft.version
    opened = [_read(store, where) for where in review.preview]  # what a reviewer's browser or player gets
    assert opened == [b"three:c.mp4", b"three:c_poster.jpg", b"three:c_contact_sheet.png"]

    approval, current = approve(store, "c", version=draft.version)
    assert current_deliverable(store, "c") == current and current.keys == draft.keys
    assert store.get_bytes("deliverables/c/c_poster.jpg") == b"three:c_poster.jpg"
    assert draft_set(store, "c") is None and read_approval(store, "c") == approval
    assert (approval.version, approval.clips, approval.inputs) == (draft.version, newer.clips, "three")
    assert _versions(store) == [published.version, draft.version]  # the replaced set is kept for late readers
    with pytest.raises(ReviewError, match=f"^campaign 'c': no draft awaits approval \\(version {draft.version}"):
        approve(store, "c")


def test_a_set_published_without_review_voids_an_older_draft(store, tmp_path):
    draft = _set(store, tmp_path, "one", draft_of=ReviewKey(clips={}, spec_sha256="x"))
    published = _set(store, tmp_path, "two")  # review: required was taken out of the manifest
    assert draft.version < published.version
    assert draft_set(store, "c") is None and _versions(store) == [published.version]  # the void draft's files too
    assert current_review(store, "c").status == "published without approval"


def _read(store: MediaStore, where: str) -> bytes:
    if isinstance(store, S3MediaStore):
        assert where.startswith("http") and "Signature" in where  # a signed URL: no credentials needed to open it
        with urllib.request.urlopen(where, timeout=10) as response:
            return response.read()
    return Path(where).read_bytes()
