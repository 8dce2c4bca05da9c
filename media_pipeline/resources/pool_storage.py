"""The event log storage deploy/dagster.yaml names: Dagster's PostgreSQL event log, with a pool slot taken by one
step at a time.

Why: the ``xai_video`` pool promises at most N generating campaigns at once. Dagster 1.13's PostgreSQL storage takes
a slot in two statements on an autocommit connection: it reads a free slot row ``FOR UPDATE SKIP LOCKED`` (the lock
ends with the read) and then writes its run and step into that row without looking again. Two steps claiming within
the same few milliseconds both read the one free row and both write it, so both run: a pool of 2 ran 3 generations
in a CI run of ``test_production``, and the row then names only the second, so freeing the first frees nothing.

Here the claim is one statement that writes a row only while it is still free; a step that loses the race is
blocked and asks again, as Dagster's executor does for any step the pool holds back. Everything else (the
queue of pending steps, freeing, run monitoring) is Dagster's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as db
from dagster._core.storage.event_log.schema import ConcurrencySlotsTable
from dagster._utils.concurrency import ConcurrencySlotStatus
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config


class PoolSafePostgresEventLogStorage(PostgresEventLogStorage):
    """``PostgresEventLogStorage`` whose concurrency slot claim cannot give one slot to two steps.

    Configured like Dagster's own (``postgres_db`` or ``postgres_url``), as ``event_log_storage`` in dagster.yaml.
    """

    @classmethod
    def from_config_value(cls, inst_data, config_value: Mapping[str, Any]) -> PoolSafePostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def _claim_concurrency_slot(self, concurrency_key: str, run_id: str, step_key: str) -> ConcurrencySlotStatus:
        """Write ``run_id`` and ``step_key`` into one free slot of ``concurrency_key``, in one statement.

        The subquery's row lock lasts the whole statement, so a concurrent claim skips that row; one that read the
        row before it was taken finds it taken when PostgreSQL re-checks the conditions on the locked row.
        """
        slots = ConcurrencySlotsTable.c
        free = (
            db.select(slots.id)
            .where(slots.concurrency_key == concurrency_key, slots.step_key.is_(None), slots.deleted.is_(False))
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claim = (
            ConcurrencySlotsTable.update()
            .where(slots.id == free, slots.step_key.is_(None))
            .values(run_id=run_id, step_key=step_key)
        )
        with self.index_connection() as conn:
            taken = conn.execute(claim).rowcount
        return ConcurrencySlotStatus.CLAIMED if taken else ConcurrencySlotStatus.BLOCKED
