"""``PoolSafePostgresEventLogStorage`` on a real PostgreSQL: a pool slot goes to one step, whatever another claim
does at the same moment, and steps the race left waiting still get their turn; steps that reach a pool not made
yet all go on, and it is made at its default limit once.

The interleaving is forced: a second claimer takes the slot just after the first claimer's statement that reads
the free slot (Dagster 1.13's own storage then writes the slot anyway, and both steps hold it). The threaded tests
run many claims at once through the whole claim-hold-free cycle, and eight first claims on a fresh pool at once
through the production instance (Dagster's own storage fails seven of them).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from dagster import DagsterInstance
from sqlalchemy import event

from media_pipeline.resources.pool_storage import PoolSafePostgresEventLogStorage
from media_pipeline_tests.dagster_stack import DEPLOY

POOL = "xai_video"


@pytest.fixture
def storage(postgres_env: dict[str, str]):
    """The storage on a fresh database, configured the way dagster.yaml configures it."""
    config = {
        "postgres_db": {
            "hostname": postgres_env["DAGSTER_PG_HOST"],
            "port": int(postgres_env["DAGSTER_PG_PORT"]),
            "username": postgres_env["DAGSTER_PG_USERNAME"],
            "password": postgres_env["DAGSTER_PG_PASSWORD"],
            "db_name": postgres_env["DAGSTER_PG_DB"],
        }
    }
    opened = PoolSafePostgresEventLogStorage.from_config_value(None, config)
    try:
        yield opened
    finally:
        opened.dispose()


def _instance_home(home, default_limit: int):
    """deploy/dagster.yaml as it is, but for the pools' default limit."""
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text(encoding="utf-8"))
    config["concurrency"]["pools"]["default_limit"] = default_limit
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(home)


def _holders(storage) -> set[tuple[str, str]]:
    return {(slot.run_id, slot.step_key) for slot in storage.get_concurrency_info(POOL).claimed_slots}


def test_a_step_that_read_the_free_slot_before_another_took_it_does_not_take_it_too(storage) -> None:
    storage.set_concurrency_slots(POOL, 1)
    # both steps got past the queue's check (Dagster's assignment is not serialized either)
    for run_id in ("run-late", "run-early"):
        storage.add_pending_step(POOL, run_id, "generated_clips", should_assign=True)
    rival = type(storage)(storage.postgres_url)
    statuses = {}

    def take_the_slot_meanwhile(conn, cursor, statement, parameters, context, executemany) -> None:
        """Right after run-late's statement that reads a free slot, run-early claims it (and commits)."""
        if "concurrency_slots" in statement and "FOR UPDATE" in statement and "run-early" not in statuses:
            statuses["run-early"] = rival.claim_concurrency_slot(POOL, "run-early", "generated_clips")

    event.listen(storage._engine, "after_cursor_execute", take_the_slot_meanwhile)
    try:
        statuses["run-late"] = storage.claim_concurrency_slot(POOL, "run-late", "generated_clips")
    finally:
        event.remove(storage._engine, "after_cursor_execute", take_the_slot_meanwhile)
        rival.dispose()

    claimed = sorted(run_id for run_id, status in statuses.items() if status.is_claimed)
    assert len(statuses) == 2 and len(claimed) == 1, statuses
    assert _holders(storage) == {(claimed[0], "generated_clips")}
    # the loser is still waiting in the queue and takes the slot once the winner frees it
    (loser,) = set(statuses) - set(claimed)
    storage.free_concurrency_slot_for_step(claimed[0], "generated_clips")
    assert storage.claim_concurrency_slot(POOL, loser, "generated_clips").is_claimed
    assert _holders(storage) == {(loser, "generated_clips")}


def test_twelve_steps_claiming_at_once_never_hold_more_than_the_pool_and_all_get_their_turn(storage) -> None:
    limit, steps = 2, 12
    storage.set_concurrency_slots(POOL, limit)
    start = threading.Barrier(steps)
    lock = threading.Lock()
    holding, peak, rows_seen = set(), [0], []

    def step(n: int) -> int:
        """Claim until claimed (as the executor polls), hold the slot briefly, free it; the number of claims."""
        run_id = f"run-{n}"
        start.wait()
        attempts = 1
        while not storage.claim_concurrency_slot(POOL, run_id, "generated_clips").is_claimed:
            attempts += 1
            time.sleep(0.005)
        with lock:
            holding.add(run_id)
            peak[0] = max(peak[0], len(holding))
            rows_seen.append(len(storage.get_concurrency_info(POOL).claimed_slots))
        time.sleep(0.02)
        with lock:
            holding.discard(run_id)
        storage.free_concurrency_slot_for_step(run_id, "generated_clips")
        return attempts

    with ThreadPoolExecutor(steps) as pool:
        attempts = list(pool.map(step, range(steps)))

    assert peak[0] == limit and max(rows_seen) <= limit, (peak, rows_seen)
    assert len(attempts) == steps and sum(attempts) > steps  # all ran, and most had to wait for a slot
    info = storage.get_concurrency_info(POOL)
    assert info.slot_count == limit and info.claimed_slots == [] and info.pending_steps == []


def _pool(storage) -> tuple[int, int, bool]:
    info = storage.get_concurrency_info(POOL)
    return info.slot_count, info.limit, info.using_default_limit


def test_eight_steps_reaching_a_pool_not_made_yet_all_go_on_and_make_it_once(postgres_env, tmp_path) -> None:
    with DagsterInstance.from_config(_instance_home(tmp_path / "home", 2)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PoolSafePostgresEventLogStorage)
        start = threading.Barrier(8)

        def first_claim(n: int) -> bool:
            """What Dagster's executor does for a step whose pool it does not know yet."""
            start.wait()
            storage.initialize_concurrency_limit_to_default(POOL)
            return storage.claim_concurrency_slot(POOL, f"run-{n}", "generated_clips").is_claimed

        with ThreadPoolExecutor(8) as pool:
            claimed = list(pool.map(first_claim, range(8)))
        assert _pool(storage) == (2, 2, True)
        assert claimed.count(True) == 2 and len(_holders(storage)) == 2


def test_a_limit_set_by_hand_is_kept_and_one_that_follows_the_default_follows_it(postgres_env, tmp_path) -> None:
    with DagsterInstance.from_config(_instance_home(tmp_path / "two", 2)) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)
        assert _pool(storage) == (2, 2, True)
    with DagsterInstance.from_config(_instance_home(tmp_path / "four", 4)) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)  # the deployment raised the default: it follows
        assert _pool(storage) == (4, 4, True)
        storage.set_concurrency_slots(POOL, 3)  # `dagster instance concurrency set xai_video 3`
        storage.initialize_concurrency_limit_to_default(POOL)  # a step that looked before the limit was set
        assert _pool(storage) == (3, 3, False)
