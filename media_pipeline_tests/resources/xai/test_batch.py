"""``XaiBatches`` against the emulator's BatchMgmt service through the real SDK: a killed add reconciled from the
batch's own request list, results taken as they come (a clip in the store, a moderated one failed), a lapsed URL."""

from __future__ import annotations

import logging
import time

import pytest

from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.media.probe import probe
from media_pipeline.resources.store import LocalMediaStore
from media_pipeline.resources.xai import ledger
from media_pipeline.resources.xai.batch import XaiBatches, batch_price_usd
from media_pipeline.resources.xai.batch_journal import BatchedClip, BatchEntry, read_batches, write_batch
from media_pipeline.resources.xai.journal import journal_key, read_entry
from media_pipeline_tests.xai_builders import EmulatorFactory, clip_request, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]
LOG = logging.getLogger("test_batch")


def _batches(emulator: XaiEmulator, store: LocalMediaStore) -> XaiBatches:
    return XaiBatches(xai_generator_for(emulator), store, "spring", LOG, environ={})


def _collect_all(batches: XaiBatches, entry: BatchEntry, timeout: float = 30) -> list[BatchedClip]:
    taken: list[BatchedClip] = []
    deadline = time.monotonic() + timeout
    while entry.pending() and time.monotonic() < deadline:
        taken += batches.collect(entry)
        time.sleep(0.05)
    return taken


def test_an_add_cut_short_by_a_kill_is_reconciled_from_the_batch_request_list(xai_emulator, tmp_path):
    store = LocalMediaStore(root=str(tmp_path))
    batches = _batches(xai_emulator, store)
    client = batches.g.client()
    batch = client.batch.create("killed mid-add")
    landed, lost = clip_request("a", cache_key="key-a"), clip_request("b", cache_key="key-b")
    entry = BatchEntry(batch_id=batch.batch_id, campaign="spring", model=landed.model, created_at="2026-11-25T00:00:00")
    for request in (landed, lost):
        price, request_id = batch_price_usd(request), f"{batch.batch_id}.{request.cache_key}"
        attempt = ledger.open_attempt(store, "spring", request.shot, request.cache_key, price)
        entry.requests[request_id] = BatchedClip(
            batch_request_id=request_id,
            shot=request.shot,
            cache_key=request.cache_key,
            estimate_usd=price,
            attempt_key=attempt,
        )
    write_batch(store, entry)  # the journal as the killed run left it: both about to be added
    prepared = client.video.prepare(
        prompt=landed.prompt, model=landed.model, batch_request_id=f"{batch.batch_id}.key-a",
        image_url=landed.image_url, duration=1, resolution="480p",
    )  # fmt: skip
    client.batch.add(batch.batch_id, [prepared])  # only the first reached xAI before the kill

    resumed = batches.resume(read_batches(store, "spring")[0])
    assert list(resumed.requests) == [f"{batch.batch_id}.key-a"] and resumed.status == "open"
    assert [(e.request_id, e.status) for e in ledger.entries(store, "spring")] == [
        (f"{batch.batch_id}.key-a", "estimate")  # b's unconfirmed attempt is gone: it was never paid
    ]
    assert read_entry(store, journal_key("spring", "key-a")).status == "submitted"
    assert xai_emulator.count("AddBatchRequests") == 1  # resuming added nothing

    (taken,) = _collect_all(batches, resumed)
    assert taken.status == "done" and probe(tmp_path / "clips/key-a.mp4").video_codec == "h264"
    assert read_batches(store, "spring")[0].status == "closed"
    assert ledger.spent(store, "spring") == pytest.approx(xai_emulator.stats["paid"]["usd"])


def test_results_are_taken_as_they_come_and_a_moderated_request_fails_its_shot(xai_emulator, tmp_path):
    store = LocalMediaStore(root=str(tmp_path))
    batches = _batches(xai_emulator, store)
    good = clip_request("good", cache_key="key-good")
    bad = clip_request("bad", cache_key="key-bad", prompt="push in [moderate]")
    entry = batches.submit([good, bad])
    assert entry.status == "open" and len(entry.pending()) == 2
    taken = {c.shot: c for c in _collect_all(batches, entry)}
    assert taken["good"].status == "done" and (tmp_path / "clips/key-good.mp4").exists()
    assert taken["bad"].status == "failed" and "content_moderation" in (taken["bad"].error or "")
    assert taken["good"].cost_usd == pytest.approx(batch_price_usd(good))
    assert read_entry(store, journal_key("spring", "key-bad")).status == "failed"
    assert ledger.spent(store, "spring") == pytest.approx(xai_emulator.stats["paid"]["usd"])
    assert batches.tally.api_calls >= 3  # create, add, list results


def test_a_result_url_that_lapsed_before_download_marks_the_clip_lapsed(
    xai_emulator_factory: EmulatorFactory, tmp_path
):
    emulator = xai_emulator_factory(batch_latency_seconds=0.1, batch_url_ttl_seconds=0.3)
    store = LocalMediaStore(root=str(tmp_path))
    batches = _batches(emulator, store)
    entry = batches.submit([clip_request("late", cache_key="key-late")])
    time.sleep(1.0)  # finished, and its URL lapsed, before anyone looked
    (taken,) = batches.collect(entry)
    assert taken.status == "lapsed" and "HTTP 403" in (taken.error or "")
    assert not (tmp_path / "clips/key-late.mp4").exists()
    assert emulator.count("download", "expired") == 1
    assert read_entry(store, journal_key("spring", "key-late")).status == "failed"  # the estimate counts it again
    assert ledger.spent(store, "spring") == pytest.approx(emulator.stats["paid"]["usd"])  # it was paid


def test_a_request_cancelled_before_it_ran_fails_its_shot_and_is_not_billed(
    xai_emulator_factory: EmulatorFactory, tmp_path
):
    emulator = xai_emulator_factory(batch_latency_seconds=30)
    store = LocalMediaStore(root=str(tmp_path))
    batches = _batches(emulator, store)
    batches.results.state_check_seconds = 0  # ask at every empty collect
    entry = batches.submit([clip_request("never", cache_key="key-never")])
    assert batches.collect(entry) == []  # pending: nothing to take
    batches.g.client().batch.cancel(entry.batch_id)  # e.g. from the xAI console
    (taken,) = batches.collect(entry)
    assert taken.status == "failed" and "cancelled" in (taken.error or "")
    assert read_batches(store, "spring")[0].status == "closed"
    assert ledger.spent(store, "spring") == 0 == emulator.stats["paid"]["usd"]
