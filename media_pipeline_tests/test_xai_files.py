"""``hosting: xai_files``: images sent to the API as xAI files, end to end through the real xai_sdk over gRPC
against the emulator's Files service, on a real Dagster instance.

The emulator counts where every request image came from (``image_input``: ``file_id``, ``data_url``, ``url``), so
these tests show that a campaign under ``xai_files`` hands the API no URL at all — the local store's images would
otherwise go out as data: URLs — and count uploads (``UploadFile``) and checks (``RetrieveFile``) per picture.
"""

import hashlib
import json
import logging
from pathlib import Path

import pytest
from dagster import materialize
from xai_sdk import Client

from media_pipeline.assets import campaign_assets
from media_pipeline.campaign import CampaignError, load_campaign
from media_pipeline.definitions import build_defs
from media_pipeline.media.probe import probe
from media_pipeline.resources.generator import KeyframeImage
from media_pipeline.resources.store import LocalMediaStore
from media_pipeline.runner import cause_message

from .builders import write_campaign
from .conftest import add_campaign_partition
from .xai_builders import TEST_API_KEY, clip_request, image_bytes, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

BASE = "resolution: 480p\nduration: 1\ndeliverable: {transition: cut}\nhosting: xai_files\n"
CHAINED = BASE + (
    "shots:\n"
    "  - {image: shot_1.png, id: open}\n"
    "  - {chain: true, id: follow, prompt: the camera keeps moving}\n"  # starts on the last frame of 'open'
    "  - {image: shot_2.png, id: close, reference_images: [shot_1.png]}\n"
)


def _file_entries(store: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (store / "xai_files").glob("*.json")}


def _picture(store: LocalMediaStore, color: tuple[int, int, int]) -> str:
    """A picture in the store under its content address, as ``source_images`` keeps them."""
    data = image_bytes(color)
    key = f"sources/{hashlib.sha256(data).hexdigest()}.png"
    store.put_bytes(key, data)
    return key


def _delete_at_xai(emulator, file_id: str) -> None:
    """Delete a file through the SDK, as the console or an expiry would."""
    client = Client(api_key=TEST_API_KEY, api_host=emulator.api_host, use_insecure_channel=True)
    try:
        assert client.files.delete(file_id).deleted
    finally:
        client.close()


def test_the_generator_sends_every_image_as_a_file_uploaded_once(tmp_path, xai_emulator):
    store, log = LocalMediaStore(root=str(tmp_path / "store")), logging.getLogger("test")
    first, last, key, ref = (_picture(store, c) for c in [(200, 60, 40), (40, 60, 200), (60, 200, 40), (90, 90, 90)])
    request = clip_request(
        "pinned", image_key=first, image_url="", hosting="xai_files", last_frame_key=last,
        keyframes=(KeyframeImage(key=key, timestamp=0.5),), reference_keys=(ref, first),
    )  # fmt: skip
    outcome = xai_generator_for(xai_emulator).generate(request, store, log)
    assert outcome.status == "generated" and probe(tmp_path / "store" / request.clip_key).duration > 0
    assert xai_emulator.count("image_input", "file_id") == 5  # first, last, keyframe, two references
    assert xai_emulator.count("image_input", "url") + xai_emulator.count("image_input", "data_url") == 0
    assert xai_emulator.count("UploadFile", "OK") == 4  # the first frame is also a reference: uploaded once
    (paid,) = xai_emulator.paid_requests
    assert (paid.keyframes, paid.reference_images) == (1, 2)

    # another clip of the same pictures from another process (a new generator): checked, not uploaded
    xai_emulator.reset_counts()
    again = request.model_copy(update={"cache_key": "xai-spring-other", "prompt": "orbit"})
    assert xai_generator_for(xai_emulator).generate(again, store, log).status == "generated"
    assert (xai_emulator.count("UploadFile"), xai_emulator.count("RetrieveFile", "OK")) == (0, 4)

    # a file xAI lost is uploaded again, counted in its entry; the others are not
    entries = _file_entries(tmp_path / "store")
    sha = first.split("/")[1].removesuffix(".png")
    _delete_at_xai(xai_emulator, entries[sha]["file_id"])
    xai_emulator.reset_counts()
    third = request.model_copy(update={"cache_key": "xai-spring-third", "prompt": "tilt"})
    assert xai_generator_for(xai_emulator).generate(third, store, log).status == "generated"
    assert xai_emulator.count("RetrieveFile", "NOT_FOUND") == 1 and xai_emulator.count("UploadFile", "OK") == 1
    renewed = _file_entries(tmp_path / "store")
    assert renewed[sha]["uploads"] == 2 and renewed[sha]["file_id"] != entries[sha]["file_id"]
    assert all(e["uploads"] == 1 for s, e in renewed.items() if s != sha)


def test_a_file_dropped_after_this_process_checked_it_is_uploaded_again_and_the_shot_made(tmp_path, xai_emulator):
    store, log = LocalMediaStore(root=str(tmp_path / "store")), logging.getLogger("test")
    generator = xai_generator_for(xai_emulator)  # one process: it checked the file once and trusts it after
    request = clip_request("first", image_key=_picture(store, (200, 60, 40)), image_url="", hosting="xai_files")
    assert generator.generate(request, store, log).status == "generated"
    ((sha, entry),) = _file_entries(tmp_path / "store").items()
    _delete_at_xai(xai_emulator, entry["file_id"])
    xai_emulator.reset_counts()

    later = request.model_copy(update={"cache_key": "xai-spring-later", "shot": "later", "prompt": "pan"})
    outcome = generator.generate(later, store, log)
    assert outcome.status == "generated" and outcome.submits == 1
    assert xai_emulator.count("GenerateVideo", "NOT_FOUND") == 1  # refused, not billed
    assert (xai_emulator.count("UploadFile", "OK"), xai_emulator.count("GenerateVideo", "OK")) == (1, 1)
    assert len(xai_emulator.paid_requests) == 1
    assert _file_entries(tmp_path / "store")[sha]["uploads"] == 2
    assert not list((tmp_path / "store" / "ledger" / "spring").glob("unconfirmed-*"))  # the refusal left no entry


def _run(instance, resources, campaign: str) -> None:
    add_campaign_partition(instance, campaign)
    result = materialize(campaign_assets, resources=resources, partition_key=campaign, instance=instance)
    assert result.success


def test_a_chained_campaign_sends_files_only_and_a_second_campaign_uploads_nothing_again(
    instance, drops_root, local_resources, xai_emulator
):
    store = Path(local_resources["store"].root)
    write_campaign(drops_root, "private", shots=2, size=(160, 90), manifest=CHAINED)
    _run(instance, dict(local_resources, generator=xai_generator_for(xai_emulator)), "private")

    assert xai_emulator.count("GenerateVideo", "OK") == 3
    assert xai_emulator.count("image_input", "url") == 0 and xai_emulator.count("image_input", "data_url") == 0
    # open: shot_1; follow: open's last frame; close: shot_2 + shot_1 as its reference image
    assert xai_emulator.count("image_input", "file_id") == 4
    assert xai_emulator.count("UploadFile", "OK") == 3  # three distinct pictures, shot_1 once
    entries = _file_entries(store)
    assert len(entries) == 3 and all(e["uploads"] == 1 for e in entries.values())
    assert set(entries) <= {p.stem for p in (store / "sources").glob("*.png")}  # the last frame is stored too

    # another campaign with the same two pictures, in a new process (a new generator): checked, not uploaded
    xai_emulator.reset_counts()
    manifest = BASE + "shots:\n  - {image: shot_1.png, prompt: a slow orbit}\n  - {image: shot_2.png, prompt: tilt}\n"
    write_campaign(drops_root, "sequel", shots=2, size=(160, 90), manifest=manifest)
    _run(instance, dict(local_resources, generator=xai_generator_for(xai_emulator)), "sequel")
    assert xai_emulator.count("GenerateVideo", "OK") == 2
    assert xai_emulator.count("UploadFile") == 0
    assert xai_emulator.count("RetrieveFile", "OK") == 2  # one check per picture
    assert xai_emulator.count("image_input", "url") + xai_emulator.count("image_input", "data_url") == 0
    assert _file_entries(store) == entries


def test_a_file_the_api_lost_is_uploaded_again_and_counted(instance, drops_root, local_resources, xai_emulator):
    store = Path(local_resources["store"].root)
    manifest = BASE + "shots:\n  - {image: shot_1.png}\n"
    write_campaign(drops_root, "first", shots=1, size=(160, 90), manifest=manifest)
    _run(instance, dict(local_resources, generator=xai_generator_for(xai_emulator)), "first")
    ((sha, entry),) = _file_entries(store).items()

    _delete_at_xai(xai_emulator, entry["file_id"])
    xai_emulator.reset_counts()
    write_campaign(
        drops_root,
        "again",
        shots=1,
        size=(160, 90),
        manifest=manifest.replace("shot_1.png}", "shot_1.png, prompt: pan}"),
    )
    _run(instance, dict(local_resources, generator=xai_generator_for(xai_emulator)), "again")

    assert xai_emulator.count("RetrieveFile", "NOT_FOUND") == 1
    assert xai_emulator.count("UploadFile", "OK") == 1
    assert xai_emulator.count("GenerateVideo", "OK") == 1 and xai_emulator.count("GenerateVideo", "NOT_FOUND") == 0
    renewed = _file_entries(store)[sha]
    assert renewed["uploads"] == 2 and renewed["file_id"] != entry["file_id"]


def test_batch_mode_carries_file_ids(instance, drops_root, local_resources, xai_emulator, monkeypatch):
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_WAIT_SECONDS", "60")
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_POLL_SECONDS", "0.05")
    write_campaign(drops_root, "bulk", shots=2, size=(160, 90), manifest=CHAINED + "mode: batch\n")
    _run(instance, dict(local_resources, generator=xai_generator_for(xai_emulator)), "bulk")

    paid = xai_emulator.paid_requests
    assert len(paid) == 3 and all(p.batch_id for p in paid)
    assert len({p.batch_id for p in paid}) == 2  # the chained shot went out in the second wave
    assert xai_emulator.count("GenerateVideo") == 0
    assert xai_emulator.count("image_input", "url") + xai_emulator.count("image_input", "data_url") == 0
    assert xai_emulator.count("UploadFile", "OK") == 3


def test_xai_files_with_the_local_generator_is_refused_before_anything_is_made(instance, drops_root, local_resources):
    write_campaign(drops_root, "offline", shots=1, size=(160, 90), manifest=BASE)
    add_campaign_partition(instance, "offline")
    result = materialize(
        campaign_assets, resources=local_resources, partition_key="offline", instance=instance, raise_on_error=False
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = cause_message(failure.event_specific_data.error)
    assert "campaign 'offline'" in message and "key 'hosting'" in message and "'local'" in message
    assert not (Path(local_resources["store"].root) / "clips").exists()


def test_a_wrong_hosting_value_is_refused_naming_campaign_and_key():
    with pytest.raises(CampaignError) as refused:
        load_campaign("spring", ["a.png"], "hosting: s3\n")
    message = str(refused.value)
    assert "campaign 'spring'" in message and "hosting" in message and "xai_files" in message


@pytest.mark.slow
def test_a_private_s3_store_the_api_cannot_reach_delivers_through_xai_files(
    s3_env, instance, tmp_path, xai_emulator_factory, monkeypatch
):
    emulator = xai_emulator_factory(fetch_urls=False)  # like the real API facing a private MinIO / SeaweedFS
    bucket, client = s3_env.make_bucket(), s3_env.client()
    for path in sorted(
        write_campaign(tmp_path / "local", "vault", shots=2, size=(160, 90), manifest=CHAINED).iterdir()
    ):
        client.upload_file(str(path), bucket, f"drops/vault/{path.name}")
    env = dict(s3_env.env(), MEDIA_PIPELINE_HOME=str(tmp_path / "home"), MEDIA_PIPELINE_STORE=f"s3://{bucket}/store",
               MEDIA_PIPELINE_DROPS=f"s3://{bucket}/drops", XAI_API_KEY=TEST_API_KEY, XAI_API_HOST=emulator.api_host,
               XAI_USE_INSECURE_CHANNEL="1")  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    instance.add_dynamic_partitions("campaigns", ["vault"])
    job = build_defs(env).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(partition_key="vault", instance=instance, raise_on_error=False)

    assert result.success, [cause_message(e.event_specific_data.error) for e in result.get_step_failure_events()]
    assert emulator.count("GenerateVideo", "OK") == 3 and emulator.count("image_input", "url") == 0
    assert emulator.count("UploadFile", "OK") == 3
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="store/xai_files/")
    assert len([o for page in pages for o in page.get("Contents", [])]) == 3  # the journal lives in the bucket
    assert "store/deliverables/vault/vault.mp4" in {
        o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="store/")
        for o in page.get("Contents", [])
    }  # fmt: skip
