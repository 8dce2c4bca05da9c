"""The review gate on a real Dagster instance with the local generator: a campaign with ``review: required`` is a
previewable draft until approved; approving publishes exactly the reviewed set (same bytes, no encode); a change
voids the approval while the approved set stays current; approving with no draft, a stale draft or another version
is refused naming the campaign. The approval runs as the ``approve_deliverable`` job, as the UI launches it."""

import hashlib
import json
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from media_pipeline.approval import build_approval_job
from media_pipeline.assets import campaign_assets
from media_pipeline.media.ffmpeg import ffmpeg_runs
from media_pipeline.media.probe import probe
from media_pipeline.partitions import Pipeline
from media_pipeline.records import GeneratedClips
from media_pipeline.resources.io_manager import read_record
from media_pipeline.resources.publish import current_deliverable, draft_set
from media_pipeline.resources.review import read_approval
from media_pipeline.runner import cause_message

from .builders import change_deliverable_spec, write_campaign
from .conftest import add_campaign_partition

REVIEWED = """\
resolution: 480p
duration: 1
review: required
deliverable: {transition: cut}
"""


def _run(instance: DagsterInstance, resources: dict, campaign: str = "sku1") -> dict:
    """Materialize the campaign's chain; the deliverable's metadata and its checks (name -> (passed, description))."""
    result = materialize(campaign_assets, resources=resources, partition_key=campaign, instance=instance)
    assert result.success
    checks = {e.check_name: (e.passed, e.description) for e in result.get_asset_check_evaluations()}
    return {**_metadata(instance), "checks": checks}


def _metadata(instance: DagsterInstance) -> dict:
    event = instance.get_latest_materialization_event(AssetKey("deliverable"))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _approve(instance: DagsterInstance, resources: dict, campaign: str = "sku1", version: str = ""):
    job = build_approval_job(Pipeline())
    return job.execute_in_process(
        partition_key=campaign,
        instance=instance,
        resources={"store": resources["store"]},
        run_config={"ops": {"approve_draft": {"config": {"version": version}}}},
        raise_on_error=False,
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _error(result) -> str:
    """The step's failure as the CLI shows it."""
    (failure,) = result.get_step_failure_events()
    return cause_message(failure.event_specific_data.error)


@pytest.fixture
def reviewed(instance, drops_root, local_resources) -> Path:
    folder = write_campaign(drops_root, "sku1", shots=2, manifest=REVIEWED, size=(160, 90))
    add_campaign_partition(instance, "sku1")
    return folder


def test_a_draft_is_not_published_until_approved_and_approval_publishes_exactly_it(instance, local_resources, reviewed):
    store = local_resources["store"]
    root = Path(store.root) / "deliverables/sku1"
    drafted = _run(instance, local_resources)
    assert drafted["review"] == "awaiting approval" and drafted["reused"] is False
    passed, description = drafted["checks"]["deliverable_approved"]
    assert not passed and description.startswith("campaign 'sku1': awaiting approval: version ")
    assert current_deliverable(store, "sku1") is None and not (root / "current.json").exists()
    assert not (root / "sku1.mp4").exists()  # no stable name shows a set that nobody approved
    draft = draft_set(store, "sku1")
    preview = Path(drafted["path"])  # the metadata's path is the draft's own master: previewable
    assert preview == Path(store.root, draft.deliverable.master_key).resolve()
    assert probe(preview).video_duration == pytest.approx(2.0, abs=0.1)
    assert drafted["poster_thumbnail"].startswith("![")  # the poster shown in place in the UI
    clips = read_record(store, "generated_clips", "sku1", GeneratedClips)
    assert draft.clips == {c.shot: c.cache_key for c in clips.clips}

    rerun = _run(instance, local_resources)  # the sensor or schedule again: the same draft, nothing encoded
    assert rerun["review"] == "awaiting approval" and rerun["reused"] is True and rerun["ffmpeg_runs"] == 0
    assert draft_set(store, "sku1") == draft and rerun["version"] == draft.deliverable.version

    runs_before = ffmpeg_runs()
    result = _approve(instance, local_resources)
    assert result.success and ffmpeg_runs() == runs_before  # not one encode
    current = current_deliverable(store, "sku1")
    assert current.version == draft.deliverable.version and current.keys == draft.deliverable.keys
    assert _sha(root / "sku1.mp4") == _sha(preview) == draft.deliverable.sha256  # the reviewed bytes
    assert draft_set(store, "sku1") is None
    approval = read_approval(store, "sku1")
    assert (approval.version, approval.clips, approval.spec_sha256) == (
        draft.deliverable.version,
        draft.clips,
        draft.spec_sha256,
    )
    published = _metadata(instance)  # the approval run's materialization of the deliverable
    assert published["review"] == "approved" and published["version"] == current.version
    assert Path(published["path"]) == (root / "sku1.mp4").resolve() and published["ffmpeg_runs"] == 0
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "deliverable_approved"]
    assert check.passed and check.partition == "sku1"

    again = _run(instance, local_resources)  # unchanged: the approved set, reused, nothing to approve
    assert again["review"] == "approved" and again["reused"] is True and again["checks"]["deliverable_approved"][0]
    assert draft_set(store, "sku1") is None


def test_a_change_voids_the_approval_and_the_approved_set_stays_current_until_the_new_draft_is(
    instance, local_resources, reviewed
):
    store = local_resources["store"]
    root = Path(store.root) / "deliverables/sku1"
    _run(instance, local_resources)
    assert _approve(instance, local_resources).success
    approved = current_deliverable(store, "sku1")
    approved_bytes = _sha(root / "sku1.mp4")

    change_deliverable_spec(reviewed)
    changed = _run(instance, local_resources)
    assert changed["review"] == "awaiting approval"
    assert f"approval of version {approved.version} does not apply" in changed["review_detail"]
    assert "the deliverable spec changed" in changed["review_detail"]
    assert current_deliverable(store, "sku1").version == approved.version  # still the approved set
    assert _sha(root / "sku1.mp4") == approved_bytes
    new = draft_set(store, "sku1").deliverable.version
    assert new != approved.version

    refused = _approve(instance, local_resources, version=approved.version)  # what the reviewer saw before
    assert not refused.success
    assert f"campaign 'sku1': version {approved.version} is not the draft awaiting approval" in _error(refused)
    assert current_deliverable(store, "sku1").version == approved.version

    new_sha = draft_set(store, "sku1").deliverable.sha256
    assert _approve(instance, local_resources, version=new).success
    assert current_deliverable(store, "sku1").version == new and _sha(root / "sku1.mp4") == new_sha
    assert json.loads((root / "approval.json").read_text())["version"] == new


def test_approving_without_a_draft_or_a_stale_draft_is_refused_naming_the_campaign(instance, local_resources, reviewed):
    store = local_resources["store"]
    nothing = _approve(instance, local_resources)
    assert not nothing.success
    assert _error(nothing).startswith("campaign 'sku1': no draft awaits approval (nothing was published)")

    _run(instance, local_resources)
    drafted = draft_set(store, "sku1").deliverable.version
    change_deliverable_spec(reviewed)  # the spec changes, and only the sources are run again
    only_sources = materialize(
        campaign_assets,
        resources=local_resources,
        partition_key="sku1",
        instance=instance,
        selection=[AssetKey("source_images")],
    )
    assert only_sources.success
    stale = _approve(instance, local_resources)
    assert not stale.success
    message = _error(stale)
    assert message.startswith(f"campaign 'sku1': the draft (version {drafted}) is stale")
    assert "the deliverable spec changed" in message and message.count("sku1") == 1
    assert current_deliverable(store, "sku1") is None and read_approval(store, "sku1") is None


def test_a_campaign_without_review_publishes_as_before(instance, drops_root, local_resources):
    write_campaign(drops_root, "plain", shots=1, manifest=REVIEWED.replace("review: required\n", ""), size=(160, 90))
    add_campaign_partition(instance, "plain")
    published = _run(instance, local_resources, "plain")
    assert published["review"] == "not required" and published["checks"]["deliverable_approved"][0]
    assert current_deliverable(local_resources["store"], "plain") is not None
    assert draft_set(local_resources["store"], "plain") is None
    assert not _approve(instance, local_resources, "plain").success  # nothing to approve
