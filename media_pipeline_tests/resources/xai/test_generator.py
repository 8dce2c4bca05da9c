"""``XaiVideoGenerator`` driving the real ``xai_sdk`` client against the emulator, into a local store."""

from __future__ import annotations

import json
import logging
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.media.probe import probe
from media_pipeline.resources.generator import ClipOutcome, ClipRequest, GeneratorStopped, ShotFailed
from media_pipeline.resources.store import LocalMediaStore
from media_pipeline.resources.xai.generator import XaiVideoGenerator
from media_pipeline.resources.xai.journal import journal_key, read_entry
from media_pipeline_tests.xai_builders import (
    TEST_API_KEY,
    EmulatorFactory,
    clip_request,
    image_data_url,
    xai_generator_for,
)

log = logging.getLogger("test_xai_generator")

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]  # idempotent if conftest registers it too


@pytest.fixture
def store(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(root=str(tmp_path / "store"))


def run_all(
    generator: XaiVideoGenerator, requests: list[ClipRequest], store: LocalMediaStore, threads: int
) -> list[ClipOutcome | Exception]:
    """Generate every request from ``threads`` threads; each result is the outcome or the exception."""

    def one(request: ClipRequest) -> ClipOutcome | Exception:
        try:
            return generator.generate(request, store, log)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, requests))


def test_clip_is_delivered_probed_costed_and_journaled(xai_emulator: XaiEmulator, store: LocalMediaStore) -> None:
    generator = xai_generator_for(xai_emulator)
    request = clip_request()
    outcome = generator.generate(request, store, log)
    assert outcome.status == "generated" and outcome.clip_key == request.clip_key
    assert outcome.cost_usd == pytest.approx(0.09) == pytest.approx(generator.estimate_usd(request))
    assert outcome.video_seconds == pytest.approx(1.0, abs=0.1)
    assert outcome.api_calls == xai_emulator.count("GenerateVideo") + xai_emulator.count("GetDeferredVideo")
    assert outcome.request_id and outcome.latency_s > 0
    with store.local_file(request.clip_key) as path:
        info = probe(path)
    assert info.video_codec == "h264" and (info.width, info.height) == (854, 480)
    entry = read_entry(store, journal_key("spring", request.cache_key))
    assert entry is not None and entry.status == "done" and entry.request_id == outcome.request_id
    assert entry.shot == "s1" and entry.result_url and entry.url_alive()
    assert entry.cost_usd == pytest.approx(0.09) and entry.cache_key == request.cache_key


def test_fan_out_through_back_off(xai_emulator_factory: EmulatorFactory, store: LocalMediaStore) -> None:
    emulator = xai_emulator_factory(max_concurrent=4, latency_seconds=0.3)
    generator = xai_generator_for(emulator, max_concurrent=8)
    results = run_all(generator, [clip_request(f"s{i:02d}") for i in range(16)], store, threads=8)
    assert all(isinstance(r, ClipOutcome) and r.status == "generated" for r in results), results
    assert emulator.count("GenerateVideo", "OK") == 16  # every shot paid for exactly once
    assert emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") > 0
    assert len(store.list_keys("clips/")) == 16


def test_moderated_shot_fails_alone(xai_emulator: XaiEmulator, store: LocalMediaStore) -> None:
    generator = xai_generator_for(xai_emulator)
    requests = [clip_request("a"), clip_request("b", prompt="push in [moderate]"), clip_request("c")]
    results = run_all(generator, requests, store, threads=3)
    assert isinstance(results[0], ClipOutcome) and isinstance(results[2], ClipOutcome)
    failure = results[1]
    assert isinstance(failure, ShotFailed)
    assert "'spring'" in str(failure) and "'b'" in str(failure)
    assert "content_moderation" in str(failure) and "rejected by content moderation" in str(failure)
    assert xai_emulator.count("GenerateVideo", "OK") == 3  # moderation is not retried


def test_journaled_request_is_resumed_not_resubmitted(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(latency_seconds=1.0)
    request = clip_request()
    with pytest.raises(ShotFailed, match="still pending"):  # a step that gives up (or dies) mid-poll
        xai_generator_for(emulator, timeout_seconds=0.2).generate(request, store, log)
    journaled = read_entry(store, journal_key("spring", request.cache_key))
    assert journaled is not None and journaled.status == "submitted"
    emulator.reset_counts()
    outcome = xai_generator_for(emulator).generate(request, store, log)
    assert outcome.request_id == journaled.request_id
    assert emulator.count("GenerateVideo") == 0 and emulator.count("GetDeferredVideo") > 0


def test_journal_of_another_version_is_not_reused(xai_emulator: XaiEmulator, store: LocalMediaStore) -> None:
    generator = xai_generator_for(xai_emulator)
    first = generator.generate(clip_request(), store, log)
    second = generator.generate(clip_request(cache_key="xai-spring-s1-v2"), store, log)
    assert second.request_id != first.request_id
    assert xai_emulator.count("GenerateVideo", "OK") == 2


def test_expired_request_is_resubmitted_exactly_once(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(expire_first=1)
    outcome = xai_generator_for(emulator).generate(clip_request(), store, log)
    assert outcome.status == "generated"
    assert emulator.count("GenerateVideo", "OK") == 2 and emulator.count("GetDeferredVideo", "EXPIRED") == 1

    emulator.reset_counts()
    with pytest.raises(ShotFailed, match="expired again"):
        xai_generator_for(emulator).generate(clip_request("s2", prompt="push in [expire]"), store, log)
    assert emulator.count("GenerateVideo", "OK") == 2


def test_bad_credentials_stop_every_thread(xai_emulator_factory: EmulatorFactory, store: LocalMediaStore) -> None:
    emulator = xai_emulator_factory(require_key="the-account-key")
    generator = xai_generator_for(emulator)
    with pytest.raises(GeneratorStopped, match="UNAUTHENTICATED") as stopped:
        generator.generate(clip_request("s0"), store, log)
    assert TEST_API_KEY not in str(stopped.value)
    emulator.reset_counts()
    results = run_all(generator, [clip_request(f"s{i}") for i in range(1, 9)], store, threads=8)
    assert all(isinstance(r, GeneratorStopped) for r in results)
    assert emulator.calls == {}  # no thread called the API again


def test_retryable_code_gives_up_after_max_retries(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(fail_rate=1.0, fail_code="RESOURCE_EXHAUSTED")
    with pytest.raises(ShotFailed, match="still RESOURCE_EXHAUSTED after 3 attempts"):
        xai_generator_for(emulator, max_retries=2).generate(clip_request(), store, log)
    assert emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") == 3
    assert not store.list_keys("jobs/")  # nothing accepted, nothing journaled


def test_invalid_argument_from_the_api(xai_emulator: XaiEmulator, store: LocalMediaStore) -> None:
    request = clip_request(image_url="data:image/png;base64,aGVsbG8=")
    with pytest.raises(ShotFailed, match="INVALID_ARGUMENT: image: image could not be decoded"):
        xai_generator_for(xai_emulator).generate(request, store, log)
    assert xai_emulator.count("GenerateVideo", "INVALID_ARGUMENT") == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"duration": 16}, "duration 16 s is outside 1-15 s"),
        ({"resolution": "4k"}, "resolution '4k'"),
        ({"aspect_ratio": "5:4"}, "aspect ratio '5:4'"),
        ({"prompt": "x" * 5000}, "prompt is 5000 characters"),
        ({"image_url": "data:image/png;base64," + "A" * (14 << 20)}, "over the 10 MiB limit"),
        ({"image_url": "ftp://host/a.png"}, "neither a data: nor an http(s) URL"),
    ],
)
def test_invalid_requests_are_refused_before_any_call(
    xai_emulator: XaiEmulator, store: LocalMediaStore, changes: dict, message: str
) -> None:
    with pytest.raises(ShotFailed, match="campaign 'spring', shot 's1'") as failed:
        xai_generator_for(xai_emulator).generate(clip_request(**changes), store, log)
    assert message in str(failed.value)
    assert xai_emulator.calls == {}


@pytest.mark.parametrize("fault", ["download_500_first", "truncate_first"])
def test_failed_download_is_retried(xai_emulator_factory: EmulatorFactory, store: LocalMediaStore, fault: str) -> None:
    emulator = xai_emulator_factory(**{fault: 1})
    request = clip_request()
    outcome = xai_generator_for(emulator).generate(request, store, log)
    assert outcome.status == "generated"
    bad = "500" if fault == "download_500_first" else "truncated"
    assert emulator.count("download", bad) == 1 and emulator.count("download", "200") == 1
    with store.local_file(request.clip_key) as path:
        assert probe(path).frame_count == 24
    assert emulator.count("GenerateVideo") == 1  # a bad download never costs a second generation


def test_download_that_keeps_failing_is_a_shot_failure(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(truncate_rate=1.0)
    request = clip_request()
    with pytest.raises(ShotFailed, match="truncated"):
        xai_generator_for(emulator, download_attempts=2).generate(request, store, log)
    assert not store.exists(request.clip_key)
    assert emulator.count("download", "truncated") == 2


def test_estimate(xai_emulator: XaiEmulator) -> None:
    generator = xai_generator_for(xai_emulator)
    assert generator.kind == "xai" and generator.concurrency == 8
    request = clip_request(duration=5, resolution="720p", last_frame_url=image_data_url((0, 0, 255)))
    assert generator.estimate_usd(request) == pytest.approx(5 * 0.14 + 2 * 0.01)


def test_api_key_never_leaks(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ok = xai_emulator_factory(download_500_first=1)
    refusing = xai_emulator_factory(require_key="another-key")
    messages: list[str] = []
    generator = xai_generator_for(ok)
    generator.generate(clip_request("ok"), store, log)
    for request in (clip_request("mod", prompt="push in [moderate]"), clip_request("bad", duration=99)):
        with pytest.raises(ShotFailed) as failed:
            generator.generate(request, store, log)
        messages.append(repr(failed.value))
    with pytest.raises(GeneratorStopped) as stopped:
        xai_generator_for(refusing).generate(clip_request("denied"), store, log)
    messages.append("".join(traceback.format_exception(stopped.value)))  # as Dagster would show it
    assert TEST_API_KEY not in "\n".join(messages)
    assert TEST_API_KEY not in caplog.text
    for path in Path(store.root).rglob("*"):
        if path.is_file():
            assert TEST_API_KEY.encode() not in path.read_bytes(), path
    journal = json.loads(store.get_bytes(journal_key("spring", clip_request("ok").cache_key)))
    assert set(journal) >= {"request_id", "cache_key", "submitted_at", "model", "status", "result_url"}


def test_the_key_is_not_in_the_resource_repr() -> None:
    generator = XaiVideoGenerator(api_key="xai-plain-secret-for-repr", api_host="127.0.0.1:1")
    assert "xai-plain-secret-for-repr" not in repr(generator) + str(generator)


def test_every_attempt_is_counted_by_one_retry_layer(
    xai_emulator_factory: EmulatorFactory, store: LocalMediaStore
) -> None:
    emulator = xai_emulator_factory(fail_first=2, fail_code="UNAVAILABLE")
    outcome = xai_generator_for(emulator).generate(clip_request(), store, log)
    assert emulator.count("GenerateVideo", "UNAVAILABLE") == 2 and emulator.count("GenerateVideo", "OK") == 1
    assert outcome.api_calls == emulator.count("GenerateVideo") + emulator.count("GetDeferredVideo")
