"""Claims through ``XaiVideoGenerator``: concurrent generators (threads, a folder store and SeaweedFS) pay once per
clip; a dead holder's claim is taken over and its journaled request adopted; a waiter whose holder failed reports
that failure instead of paying for it again."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.resources.claims import HOST, ClaimBody
from media_pipeline.resources.generator import ClipOutcome, ShotFailed
from media_pipeline.resources.store import LocalMediaStore, MediaStore
from media_pipeline.resources.xai.journal import journal_key, now_iso, read_entry
from media_pipeline_tests.xai_builders import EmulatorFactory, clip_request, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

log = logging.getLogger("test_claims")
FOREVER = "2999-01-01T00:00:00+00:00"  # a lease that never runs out


def test_four_runs_at_once_pay_once_per_clip(xai_emulator_factory: EmulatorFactory, store: MediaStore) -> None:
    emulator = xai_emulator_factory(latency_seconds=0.5)
    runs = [xai_generator_for(emulator) for _ in range(4)]  # four runs: four resources, one store
    shots = [clip_request(f"s{i}") for i in range(3)]

    def one(job: tuple[int, int]) -> ClipOutcome:
        run, shot = job
        return runs[run].generate(shots[shot], store, log)

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(one, [(run, shot) for run in range(4) for shot in range(3)]))
    assert len(emulator.paid_requests) == 3 and emulator.count("GenerateVideo") == 3
    assert sorted(o.status for o in outcomes) == ["cached"] * 9 + ["generated"] * 3
    assert {o.shot for o in outcomes if o.status == "generated"} == {"s0", "s1", "s2"}
    assert all(o.api_calls == 0 for o in outcomes if o.status == "cached")  # waited, never called the API
    assert not store.list_keys("claims/")


def test_a_dead_holders_claim_is_taken_over_and_its_request_adopted(
    xai_emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    xai_emulator = xai_emulator_factory(latency_seconds=1.0)
    store = LocalMediaStore(root=str(tmp_path / "store"))
    request = clip_request()
    with pytest.raises(ShotFailed, match="still pending"):  # leaves the request journaled, then "dies"
        xai_generator_for(xai_emulator, timeout_seconds=0.2).generate(request, store, log)
    journaled = read_entry(store, journal_key("spring", request.cache_key))
    assert journaled is not None and journaled.status == "submitted"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    body = ClaimBody(
        holder="killed-run", host=HOST, pid=int(dead.stdout), campaign="spring", shot="s1",
        journal_key=journal_key("spring", request.cache_key), taken_at=now_iso(), expires_at=FOREVER,
    )  # fmt: skip
    store.put_bytes(f"claims/{request.cache_key}/000007.json", body.model_dump_json().encode())
    outcome = xai_generator_for(xai_emulator).generate(request, store, log)
    assert outcome.status == "generated" and outcome.request_id == journaled.request_id
    assert len(xai_emulator.paid_requests) == 1
    assert not store.list_keys("claims/")


def test_a_live_claim_is_waited_on_and_its_holders_failure_reported(xai_emulator: XaiEmulator, tmp_path: Path) -> None:
    store = LocalMediaStore(root=str(tmp_path / "store"))
    request = clip_request(prompt="push in [moderate]")
    body = ClaimBody(
        holder="other-machine", host="elsewhere", pid=1, campaign="summer", shot="hero",
        journal_key=journal_key("summer", request.cache_key), taken_at=now_iso(), expires_at=FOREVER,
    )  # fmt: skip
    key = f"claims/{request.cache_key}/000000.json"
    store.put_bytes(key, body.model_dump_json().encode())
    generator = xai_generator_for(xai_emulator, timeout_seconds=5)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(generator.generate, request, store, log)
        released = body.model_copy(update={"released": True, "error": "xAI request r-1 failed [content_moderation]"})
        time.sleep(0.5)  # the waiter has seen the live claim
        store.put_bytes(key, released.model_dump_json().encode())
        with pytest.raises(ShotFailed, match=r"shot 's1': xAI request r-1 failed \[content_moderation\] \(reported"):
            waiting.result(timeout=30)
    assert xai_emulator.calls == {}  # paid nothing for a failure another run already met
    assert json.loads(store.get_bytes(key))["released"] is True


def test_an_expired_claim_from_another_machine_is_taken_over_with_its_campaigns_request(
    xai_emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emulator = xai_emulator_factory(latency_seconds=1.0)
    store = LocalMediaStore(root=str(tmp_path / "store"))
    theirs = clip_request(campaign="summer", cache_key="xai-shared-clip")
    with pytest.raises(ShotFailed, match="still pending"):  # campaign 'summer' paid for the clip, then vanished
        xai_generator_for(emulator, timeout_seconds=0.2).generate(theirs, store, log)
    body = ClaimBody(
        holder="gone-machine", host="elsewhere", pid=1, campaign="summer", shot="s1",
        journal_key=journal_key("summer", theirs.cache_key), taken_at=now_iso(), expires_at="2000-01-01T00:00:00+00:00",
    )  # fmt: skip
    store.put_bytes(f"claims/{theirs.cache_key}/000001.json", body.model_dump_json().encode())
    ours = clip_request(campaign="spring", cache_key="xai-shared-clip")  # the same clip in another campaign
    outcome = xai_generator_for(emulator).generate(ours, store, log)
    assert outcome.status == "generated" and outcome.submits == 0
    assert outcome.request_id == read_entry(store, journal_key("summer", theirs.cache_key)).request_id
    assert len(emulator.paid_requests) == 1
