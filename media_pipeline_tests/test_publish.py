"""Deliverable sets are whole or absent: a version folder, the pointer written last, stable names, clean-up.

The same tests run on a folder store and on SeaweedFS. Pipeline tests: re-runs publish new versions that readers
(the runner's summary, the schedule, the UI metadata) follow, and ``on_failed_shots: skip`` delivers the good
shots with a warning check that names the missing ones.
"""

from pathlib import Path

import pytest
from dagster import AssetKey, materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.media.ffmpeg import ffmpeg_runs
from media_pipeline.media.probe import probe
from media_pipeline.records import Deliverable, DeliverableFile
from media_pipeline.resources.publish import current_deliverable, pointer_key, publishing, repair_stable_names
from media_pipeline.resources.store import LocalMediaStore, MediaStore, StoreError

from .builders import change_deliverable_spec, write_campaign
from .conftest import add_campaign_partition

CUT_MANIFEST = """\
resolution: 480p
duration: 1
deliverable: {transition: cut}
"""


def _files(folder: Path, label: str, names=("c.mp4", "c_poster.jpg", "c_contact_sheet.png")) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        (folder / name).write_bytes(f"{label}:{name}".encode())
        paths.append(folder / name)
    return paths


def _publish(store: MediaStore, files: list[Path], campaign: str = "c") -> Deliverable:
    with publishing(store, campaign) as upload:
        *renditions, poster, sheet = [upload.put(p) for p in files]
        return upload.switch(
            Deliverable(
                campaign=campaign,
                master_key=renditions[0],
                poster_key=poster,
                contact_sheet_key=sheet,
                renditions=[DeliverableFile(aspect="16:9", key=k, width=2, height=2, duration=1) for k in renditions],
                duration=1.0,
                sha256="0" * 64,
            )
        )


def _versions(store: MediaStore) -> list[str]:
    return store.list_children("deliverables/c/v/")


def test_a_set_is_visible_only_from_its_switch_and_versions_older_than_the_replaced_one_are_deleted(store, tmp_path):
    assert current_deliverable(store, "c") is None
    first = _publish(store, _files(tmp_path / "one", "one"))
    assert current_deliverable(store, "c") == first
    assert store.get_bytes("deliverables/c/c.mp4") == b"one:c.mp4"

    with publishing(store, "c") as upload:
        keys = [upload.put(p) for p in _files(tmp_path / "two", "two")]
        assert all(store.exists(k) for k in keys) and _versions(store) == sorted([first.version, upload.version])
        # uploaded but not switched: readers still see the first set, whole, under every name
        assert current_deliverable(store, "c") == first
        assert [store.get_bytes(f"deliverables/c/{n}") for n in ("c.mp4", "c_poster.jpg")] == [
            b"one:c.mp4",
            b"one:c_poster.jpg",
        ]
        second = upload.switch(
            current_deliverable(store, "c").model_copy(
                update={"master_key": keys[0], "renditions": [], "poster_key": keys[1], "contact_sheet_key": keys[2]}
            )
        )
    assert current_deliverable(store, "c") == second and second.version > first.version
    assert store.get_bytes("deliverables/c/c_contact_sheet.png") == b"two:c_contact_sheet.png"
    assert _versions(store) == [first.version, second.version]  # the replaced set is kept for late readers

    third = _publish(store, _files(tmp_path / "three", "three", names=("c.mp4", "c_poster.jpg", "c_sheet.png")))
    assert _versions(store) == [second.version, third.version]
    assert not store.exists("deliverables/c/c_contact_sheet.png")  # a name the new set no longer has
    assert store.get_bytes("deliverables/c/c_sheet.png") == b"three:c_sheet.png"
    assert store.get_bytes(third.master_key) == b"three:c.mp4"


def test_a_failure_before_the_switch_leaves_the_previous_set_and_removes_the_half_upload(store, tmp_path):
    first = _publish(store, _files(tmp_path / "one", "one"))
    with pytest.raises(StoreError) as caught, publishing(store, "c") as upload:
        upload.put(_files(tmp_path / "two", "two")[0])
        raise StoreError(f"{store.uri('deliverables/c/x')}: disk on fire")
    message = str(caught.value)
    assert message.startswith(f"campaign 'c': deliverable not published (version {first.version} stays current")
    assert "disk on fire" in message
    assert current_deliverable(store, "c") == first and _versions(store) == [first.version]
    assert store.get_bytes("deliverables/c/c.mp4") == b"one:c.mp4"


def test_leftovers_of_a_killed_publish_are_invisible_and_removed_by_the_next_switch(store, tmp_path):
    first = _publish(store, _files(tmp_path / "one", "one"))
    killed = "20000101T000000000000Z-dead00"  # older than any real version, as a kill long ago leaves it
    store.put_bytes(f"deliverables/c/v/{killed}/c.mp4", b"half")
    if isinstance(store, LocalMediaStore):  # a folder store also keeps the writer's .part file
        Path(store.root, f"deliverables/c/v/{killed}/.c_poster.jpg.1234.part").write_bytes(b"ha")
    assert current_deliverable(store, "c") == first and store.get_bytes("deliverables/c/c.mp4") == b"one:c.mp4"
    second = _publish(store, _files(tmp_path / "two", "two"))
    assert _versions(store) == [first.version, second.version]
    if isinstance(store, LocalMediaStore):
        assert not Path(store.root, f"deliverables/c/v/{killed}").exists()


def test_the_stable_names_of_a_folder_store_switch_together_through_one_link(tmp_path):
    store = LocalMediaStore(root=str(tmp_path / "store"))
    first = _publish(store, _files(tmp_path / "one", "one"))
    folder = tmp_path / "store/deliverables/c"
    assert (folder / "current").readlink() == Path(f"v/{first.version}")
    assert (folder / "c.mp4").readlink() == Path("current/c.mp4")
    assert store.uri("deliverables/c/c.mp4") == store.uri(first.master_key)
    assert store.stable_uri("deliverables/c/c.mp4") == str(folder.resolve() / "c.mp4")
    second = _publish(store, _files(tmp_path / "two", "two"))
    assert (folder / "current").readlink() == Path(f"v/{second.version}")
    assert (folder / "c.mp4").read_bytes() == b"two:c.mp4"
    assert sorted(p.name for p in folder.iterdir()) == [
        "c.mp4",
        "c_contact_sheet.png",
        "c_poster.jpg",
        "current",
        "current.json",
        "v",
    ]


def test_stable_names_left_on_the_set_before_are_switched_to_the_current_one(store, tmp_path):
    """A run killed between the pointer and the stable names leaves the names on the set before; the repair a
    reusing run makes switches them to the current set, and touches nothing otherwise."""
    first = _publish(store, _files(tmp_path / "one", "one"))
    second = _publish(store, _files(tmp_path / "two", "second"))
    names = ["c.mp4", "c_contact_sheet.png", "c_poster.jpg"]
    store.alias_folder("deliverables/c", f"deliverables/c/v/{first.version}", names)  # the kill's leftover
    assert store.get_bytes("deliverables/c/c.mp4") == b"one:c.mp4"
    assert not repair_stable_names(store, first)  # not the current set: left alone
    assert repair_stable_names(store, second)
    assert [store.get_bytes(f"deliverables/c/{name}") for name in names] == [f"second:{n}".encode() for n in names]
    assert not repair_stable_names(store, second)  # nothing to mend: no copy, no link


def _materialize(instance, resources, campaign):
    return materialize(
        campaign_assets, resources=resources, partition_key=campaign, instance=instance, raise_on_error=False
    )


def _deliverable_metadata(instance) -> dict:
    event = instance.get_latest_materialization_event(AssetKey("deliverable"))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.mark.slow
def test_on_failed_shots_skip_delivers_the_good_shots_and_a_warning_names_the_missing_one(
    instance, local_resources, drops_root
):
    skip = "resolution: 480p\nduration: 1\non_failed_shots: skip\ndeliverable: {poster: {shot: shot_2, at: 0.5}}\n"
    folder = write_campaign(drops_root, "partial", shots=3, manifest=skip)  # the poster's shot will be missing
    (folder / "shot_2.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    add_campaign_partition(instance, "partial")
    result = _materialize(instance, local_resources, "partial")
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    complete = checks["deliverable_complete"]
    assert not complete.passed and complete.severity.value == "WARN"
    assert complete.metadata["missing_shots"].value.startswith("shot_2: ")
    assert checks["deliverable_conformant"].passed

    store = local_resources["store"]
    record = current_deliverable(store, "partial")
    assert list(record.skipped_shots) == ["shot_2"] and list(record.shot_offsets) == ["shot_1", "shot_3"]
    assert probe(Path(store.root) / "deliverables/partial/partial.mp4").video_duration == pytest.approx(2, abs=0.05)
    metadata = _deliverable_metadata(instance)
    assert metadata["skipped_shots"] == "shot_2" and metadata["shots"] == 2

    (folder / "campaign.yaml").write_text(CUT_MANIFEST, encoding="utf-8")  # the default: fail
    refused = _materialize(instance, local_resources, "partial")
    assert not refused.success
    message = refused.get_step_failure_events()[0].event_specific_data.error.message
    assert "shot_2" in message and "on_failed_shots: skip" in message
    assert current_deliverable(store, "partial") == record  # the partial set stays current, whole


@pytest.mark.slow
def test_a_rerun_publishes_a_new_version_that_every_reader_follows(instance, local_resources, drops_root):
    write_campaign(drops_root, "again", shots=2, manifest=CUT_MANIFEST)
    add_campaign_partition(instance, "again")
    store = local_resources["store"]
    assert _materialize(instance, local_resources, "again").success
    first = current_deliverable(store, "again")
    change_deliverable_spec(drops_root / "again")  # an unchanged campaign would take its set as it is
    assert _materialize(instance, local_resources, "again").success
    second = current_deliverable(store, "again")
    assert second.version > first.version
    assert store.list_children("deliverables/again/v/") == [first.version, second.version]
    metadata = _deliverable_metadata(instance)
    assert metadata["version"] == second.version
    assert metadata["path"] == store.uri(second.master_key) == store.uri("deliverables/again/again.mp4")
    assert metadata["pointer"] == store.uri(pointer_key("again"))
    stored = Deliverable.model_validate_json(store.get_bytes("records/deliverable/again.json"))
    assert stored == second  # the IO manager's record is the pointer's

    # a run killed between the pointer and the stable names left them on the set before: the next run mends them
    (drops_root / "again" / "campaign.yaml").write_text(CUT_MANIFEST.replace("cut", "crossfade"), encoding="utf-8")
    assert _materialize(instance, local_resources, "again").success
    third = current_deliverable(store, "again")  # other pictures than the second's, not just another version
    names = sorted(key.rsplit("/", 1)[-1] for key in third.keys)
    store.alias_folder("deliverables/again", f"deliverables/again/v/{second.version}", names)
    runs = ffmpeg_runs()
    assert _materialize(instance, local_resources, "again").success
    assert _deliverable_metadata(instance)["reused"] is True and ffmpeg_runs() == runs
    assert (Path(store.root) / "deliverables/again/again.mp4").resolve() == Path(store.root).resolve() / (
        f"deliverables/again/v/{third.version}/again.mp4"
    )


def test_of_two_publishes_at_once_the_later_started_wins_and_the_other_changes_nothing(store, tmp_path):
    first = _publish(store, _files(tmp_path / "one", "one"))
    with pytest.raises(StoreError) as caught, publishing(store, "c") as slow:
        slow_keys = [slow.put(p) for p in _files(tmp_path / "slow", "slow")]
        later = _publish(store, _files(tmp_path / "later", "later"))  # started and switched meanwhile
        slow.switch(
            first.model_copy(
                update={
                    "master_key": slow_keys[0],
                    "poster_key": slow_keys[1],
                    "contact_sheet_key": slow_keys[2],
                    "renditions": [],
                }
            )
        )
    assert f"(version {later.version} stays current, whole): a publish that started later" in str(caught.value)
    assert current_deliverable(store, "c") == later
    assert store.get_bytes("deliverables/c/c.mp4") == b"later:c.mp4"
    assert _versions(store) == [first.version, later.version]
