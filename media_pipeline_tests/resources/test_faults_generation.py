"""One test per API and download fault, through the real ``xai_sdk`` over gRPC against the emulator: each asserts
whether the clip was delivered, the paid submits as the emulator counted them, what the ledger booked, and the
error text. Runs are separate ``XaiVideoGenerator`` instances on one store, as separate runs would be."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.media.probe import probe
from media_pipeline.resources.generator import ClipOutcome, ClipRequest, ShotFailed
from media_pipeline.resources.store import LocalMediaStore
from media_pipeline.resources.xai import ledger
from media_pipeline.resources.xai.journal import journal_key, read_entry
from media_pipeline_tests.xai_builders import EmulatorFactory, clip_request, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

log = logging.getLogger("test_faults_generation")
CLIP_USD = 0.09  # 1 s at 480p plus one image


@pytest.fixture
def store(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(root=str(tmp_path / "store"))


def paid(emulator: XaiEmulator) -> int:
    """Requests the emulator accepted and billed, a lost reply's included."""
    return len(emulator.paid_requests)


def generate(emulator: XaiEmulator, request: ClipRequest, store: LocalMediaStore, **changes: object) -> ClipOutcome:
    return xai_generator_for(emulator, **changes).generate(request, store, log)


def entry_of(store: LocalMediaStore, request: ClipRequest):
    return read_entry(store, journal_key(request.campaign, request.cache_key))


def assert_plays(store: LocalMediaStore, request: ClipRequest) -> None:
    with store.local_file(request.clip_key) as path:
        assert probe(path).frame_count == 24


def test_lost_submit_reply_is_counted_as_uncertain_and_booked(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(lose_submit_reply_first=1)
    request = clip_request()
    outcome = generate(emulator, request, store)
    assert outcome.status == "generated" and outcome.submits == 1 and outcome.uncertain_submits == 1
    assert_plays(store, request)
    assert paid(emulator) == 2 and emulator.count("GenerateVideo", "LOST_REPLY") == 1
    booked = sorted((e.status, e.cost_usd) for e in ledger.entries(store, "spring"))
    assert booked == [("final", pytest.approx(CLIP_USD)), ("unconfirmed", pytest.approx(CLIP_USD))]


def test_a_run_that_died_mid_submit_leaves_an_uncertain_submit_the_next_run_counts(
    xai_emulator: XaiEmulator, store: LocalMediaStore
) -> None:
    request = clip_request()
    journal = journal_key("spring", request.cache_key)
    store.put_bytes(journal, b'{"cache_key": "xai-spring-s1", "model": "m", "status": "submitting", '
                    b'"submitted_at": "2026-01-01T00:00:00+00:00"}')  # fmt: skip
    outcome = generate(xai_emulator, request, store)
    assert outcome.status == "generated" and outcome.uncertain_submits == 1 and paid(xai_emulator) == 1


@pytest.mark.parametrize("fault", ["download_500_first", "truncate_first"])
def test_a_failed_download_keeps_the_paid_result_for_the_next_run(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore, fault: str
) -> None:
    emulator = xai_emulator_factory(**{fault: 3})
    request = clip_request()
    with pytest.raises(ShotFailed, match="the paid result is kept") as failed:
        generate(emulator, request, store, download_attempts=3)
    bad = "500" if fault == "download_500_first" else "truncated"
    assert f"campaign 'spring', shot 's1': download of xAI request {failed.value.request_id}" in str(failed.value)
    assert failed.value.cost_usd == pytest.approx(CLIP_USD) and failed.value.api_calls >= 2
    assert entry_of(store, request).status == "ready"
    assert emulator.count("download", bad) == 3

    emulator.reset_counts()
    outcome = generate(emulator, request, store)
    assert outcome.status == "generated" and outcome.request_id == failed.value.request_id
    assert emulator.calls == {("download", "200"): 1}  # no submit, no poll: straight to the kept URL
    assert outcome.cost_usd == 0 and ledger.spent(store, "spring") == pytest.approx(CLIP_USD)
    assert_plays(store, request)


@pytest.mark.parametrize("status", [404, 410])
def test_a_result_gone_for_good_is_submitted_anew_once(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore, status: int
) -> None:
    emulator = xai_emulator_factory(gone_first=1, gone_status=status)
    request = clip_request()
    outcome = generate(emulator, request, store)
    assert outcome.status == "generated" and outcome.submits == 2 and paid(emulator) == 2
    assert emulator.count("download", str(status)) == 1
    with pytest.raises(ShotFailed, match=f"is gone .*HTTP {status}.* again after one resubmission"):
        generate(emulator, clip_request("s2", prompt="push in [gone]"), store)
    assert paid(emulator) == 4


def test_a_result_that_is_not_a_video_is_fetched_twice_then_failed(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(not_video_first=1)
    request = clip_request()
    assert generate(emulator, request, store).status == "generated"  # the second download was good
    assert paid(emulator) == 1 and emulator.count("download", "not_video") == 1

    bad = clip_request("s2", prompt="push in [not-video]")
    with pytest.raises(ShotFailed, match="is not a playable video") as failed:
        generate(emulator, bad, store)
    assert failed.value.cost_usd == pytest.approx(CLIP_USD) and paid(emulator) == 2
    assert entry_of(store, bad).status == "failed" and not store.exists(bad.clip_key)
    assert emulator.count("download", "not_video") == 3


def test_deadline_exceeded_on_submit_is_retried_and_counted_uncertain(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(fail_first=2, fail_code="DEADLINE_EXCEEDED")
    outcome = generate(emulator, clip_request(), store)
    assert outcome.status == "generated" and paid(emulator) == 1 and outcome.uncertain_submits == 2
    assert emulator.count("GenerateVideo", "DEADLINE_EXCEEDED") == 2
    assert ledger.spent(store, "spring") == pytest.approx(3 * CLIP_USD)  # two may have been billed


def test_deadline_exceeded_on_poll_costs_no_second_submit(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(fail_first=3, fail_code="DEADLINE_EXCEEDED", fail_method="GetDeferredVideo")
    outcome = generate(emulator, clip_request(), store)
    assert outcome.status == "generated" and paid(emulator) == 1 and outcome.uncertain_submits == 0
    assert emulator.count("GetDeferredVideo", "DEADLINE_EXCEEDED") == 3


def test_a_poll_that_keeps_failing_leaves_the_request_to_the_next_run(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(fail_rate=1.0, fail_code="UNAVAILABLE", fail_method="GetDeferredVideo")
    request = clip_request()
    with pytest.raises(ShotFailed, match="xAI GetDeferredVideo still UNAVAILABLE after 3 attempts"):
        generate(emulator, request, store, max_retries=2)
    assert entry_of(store, request).status == "submitted"
    emulator.set_faults(fail_rate=0.0)
    assert generate(emulator, request, store).status == "generated" and paid(emulator) == 1


def test_resource_exhausted_storm_is_weathered_without_a_doubtful_submit(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(fail_first=12, fail_code="RESOURCE_EXHAUSTED")
    outcome = generate(emulator, clip_request(), store)
    assert outcome.status == "generated" and paid(emulator) == 1 and outcome.uncertain_submits == 0
    assert emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") == 12
    assert ledger.spent(store, "spring") == pytest.approx(CLIP_USD)  # a refusal is never billed


def test_unavailable_submit_is_retried_and_counted_uncertain(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(fail_first=3, fail_code="UNAVAILABLE")
    outcome = generate(emulator, clip_request(), store)
    assert outcome.status == "generated" and paid(emulator) == 1 and outcome.uncertain_submits == 3


def test_moderation_fails_the_shot_with_its_calls_and_no_second_submit(
    xai_emulator: XaiEmulator, store: LocalMediaStore
) -> None:
    request = clip_request(prompt="push in [moderate]")
    with pytest.raises(ShotFailed, match=r"failed \[content_moderation\]: the request was rejected") as failed:
        generate(xai_emulator, request, store)
    assert paid(xai_emulator) == 1 and failed.value.api_calls >= 2 and failed.value.cost_usd == 0
    assert entry_of(store, request).status == "failed"
    assert ledger.spent(store, "spring") == 0  # a moderated request is not billed


def test_failed_fails_its_shot_only_and_a_rerun_submits_it_again(
    xai_emulator: XaiEmulator, store: LocalMediaStore
) -> None:
    shots = [clip_request("s1"), clip_request("s2", prompt="push in [fail]"), clip_request("s3")]

    def run() -> tuple[dict[str, str], ShotFailed]:
        generator, delivered, failures = xai_generator_for(xai_emulator), {}, []
        for request in shots:
            try:
                delivered[request.shot] = generator.generate(request, store, log).status
            except ShotFailed as exc:
                failures.append(exc)
        assert len(failures) == 1
        return delivered, failures[0]

    delivered, failed = run()
    assert delivered == {"s1": "generated", "s3": "generated"}
    assert str(failed) == (
        f"campaign 'spring', shot 's2': xAI request {failed.request_id} failed [internal_error]: "
        "video generation failed: internal error (injected fault)"
    )
    for request in (shots[0], shots[2]):
        assert_plays(store, request)
    assert not store.exists(shots[1].clip_key) and entry_of(store, shots[1]).status == "failed"
    assert paid(xai_emulator) == 3 and xai_emulator.count("GenerateVideo", "OK") == 3
    assert xai_emulator.count("fate", "failed") == 1 and xai_emulator.count("GetDeferredVideo", "FAILED") == 1
    assert [p.usd for p in xai_emulator.paid_requests] == pytest.approx([CLIP_USD, 0.0, CLIP_USD])
    assert failed.cost_usd == 0 and ledger.spent(store, "spring") == pytest.approx(2 * CLIP_USD)

    xai_emulator.reset_counts()
    delivered, again = run()
    assert delivered == {"s1": "cached", "s3": "cached"}
    assert again.request_id != failed.request_id and "failed [internal_error]" in str(again)
    assert [p.request_id for p in xai_emulator.paid_requests] == [again.request_id]  # s2 only, once
    assert xai_emulator.count("GenerateVideo") == 1 and xai_emulator.count("fate", "failed") == 1


def test_expired_is_resubmitted_once(xai_emulator_factory: EmulatorFactory, store: LocalMediaStore) -> None:
    emulator = xai_emulator_factory(expire_first=1)
    assert generate(emulator, clip_request(), store).submits == 2 and paid(emulator) == 2
    with pytest.raises(ShotFailed, match="expired again after one resubmission"):
        generate(emulator, clip_request("s2", prompt="push in [expire]"), store)
    assert paid(emulator) == 4


def test_a_poll_that_never_finishes_stays_journaled_and_is_resumed_free(
    xai_emulator: XaiEmulator, store: LocalMediaStore
) -> None:
    request = clip_request(prompt="push in [never]")
    started = time.monotonic()
    with pytest.raises(ShotFailed, match="still pending after 1 s; it stays journaled"):
        generate(xai_emulator, request, store, timeout_seconds=1)
    assert time.monotonic() - started < 10
    with pytest.raises(ShotFailed, match="still pending"):
        generate(xai_emulator, request, store, timeout_seconds=0.5)
    assert paid(xai_emulator) == 1 and xai_emulator.count("GenerateVideo") == 1
    assert entry_of(store, request).status == "submitted"
