"""The event log storage deploy/dagster.yaml names: Dagster's PostgreSQL event log, with a pool that holds its limit
when steps reach it at the same instant.

Why: the ``xai_video`` pool promises at most N generating campaigns at once. Dagster 1.13.27's PostgreSQL storage
breaks that promise in two races, both for the same reason: statements that must go together run on an autocommit
connection, so a row lock ends with the statement that took it.

- **Taking a slot.** It reads a free slot row ``FOR UPDATE SKIP LOCKED`` and then writes its run and step into that
  row without looking again. Two steps claiming within a few milliseconds both take the one free slot and both run
  (a pool of 2 ran 3 generations in a CI run of ``test_production``); the row then names only the second step, so
  freeing the first frees nothing. Here the claim is one statement that takes a row only while it is free; the step
  that loses is blocked and asks again, as Dagster's executor does for any step the pool holds back.
- **Creating the pool from ``default_limit``** (lazily, on the first claim). It inserts the limit row and, on a
  unique-key conflict, updates it in the same, now aborted, transaction: of the steps that first reach the pool
  together, all but one fail with ``InFailedSqlTransaction``, and their runs with them. Here the row is inserted with
  ``ON CONFLICT DO NOTHING`` and locked, and the slots are made under that lock, so every step goes on and the pool
  has exactly its limit.

Everything else (the queue of pending steps, freeing, run monitoring) is Dagster's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as db
from dagster._core.storage.event_log.schema import ConcurrencyLimitsTable, ConcurrencySlotsTable
from dagster._utils.concurrency import ConcurrencySlotStatus
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from sqlalchemy.dialects.postgresql import insert


class PoolSafePostgresEventLogStorage(PostgresEventLogStorage):
    """``PostgresEventLogStorage`` whose pools neither give one slot to two steps nor fail steps that create them.

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

    def initialize_concurrency_limit_to_default(self, concurrency_key: str) -> bool:
        """Create the pool ``concurrency_key`` at the instance's ``default_limit`` (or bring a pool that follows the
        default to it), safely when many steps do so at once. A limit set explicitly is kept: the caller's view of
        the pool may be a moment old. Without a default limit this is Dagster's own (it removes the pool)."""
        default_limit = self._instance.global_op_concurrency_default_limit if self.has_instance else None
        if default_limit is None or not self.has_concurrency_limits_table or not self.has_default_pool_limit_col:
            return super().initialize_concurrency_limit_to_default(concurrency_key)
        self._reconcile_concurrency_limits_from_slots()
        limits = ConcurrencyLimitsTable.c
        pool = limits.concurrency_key == concurrency_key
        with self.index_transaction() as conn:
            conn.execute(
                insert(ConcurrencyLimitsTable)
                .values(concurrency_key=concurrency_key, limit=default_limit, using_default_limit=True)
                .on_conflict_do_nothing(index_elements=[limits.concurrency_key])
            )
            limit, follows_default = conn.execute(
                db.select(limits.limit, limits.using_default_limit).where(pool).with_for_update()
            ).one()
            if follows_default and limit != default_limit:
                conn.execute(ConcurrencyLimitsTable.update().where(pool).values(limit=default_limit))
                limit = default_limit
            self._allocate_concurrency_slots(conn, concurrency_key, limit)
        return True
