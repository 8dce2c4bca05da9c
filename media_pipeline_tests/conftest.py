"""Shared fixtures: a temporary pipeline home (drops + store), a real Dagster instance, campaign builders."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance, instance_for_test

from media_pipeline.partitions import campaign_partitions
from media_pipeline.resources.drops import LocalDropZone
from media_pipeline.resources.generator import LocalVideoGenerator
from media_pipeline.resources.io_manager import StoreRecordIOManager
from media_pipeline.resources.store import LocalMediaStore

from .builders import write_campaign

pytest_plugins = [
    "media_pipeline_tests.s3_fixtures",
    "media_pipeline_tests.postgres_fixtures",
    "media_pipeline_tests.dagster_dev_fixtures",
]

__all__ = ["write_campaign"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep Dagster's and ffmpeg's temporary files inside pytest's temp dir."""
    tmp = tmp_path_factory.mktemp("tmpdir")
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    yield
    if old is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = old


@pytest.fixture(autouse=True)
def _no_leftover_defs_state_storage() -> Iterator[None]:
    """Each test starts with no "current" Dagster defs-state storage.

    ``DagsterInstance.__enter__`` makes the instance's storage the context's current one (a ContextVar) and its
    ``__exit__`` restores the one before; when instances are exited out of order one test's storage outlives its
    instance (``execute_job`` through a reconstructable job leaves one: test_factory), and the next test in the
    worker that loads definitions fails with "Attempted to resolve undefined DagsterInstance weakref".

    An instance entered and never exited (a sensor or schedule context built with resources and not closed) is
    worse: when the garbage collector finally takes it, its exit runs then, in whatever test is running, and
    makes the dead instance's storage current in the middle of that test (``test_store_faults`` failed so in a
    CI run). So each test's leftovers are collected at its own end, before the storage is reset."""
    from dagster._core.storage.defs_state.base import _current_storage

    token = _current_storage.set(None)
    yield
    gc.collect()
    _current_storage.reset(token)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A real (sqlite-backed) Dagster instance in a temp ``DAGSTER_HOME``."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as inst:
        yield inst


@pytest.fixture
def drops_root(tmp_path: Path) -> Path:
    root = tmp_path / "drops"
    root.mkdir()
    return root


@pytest.fixture
def local_resources(tmp_path: Path, drops_root: Path) -> dict[str, object]:
    """The resources of a local deployment: folder drops, folder store, the ffmpeg generator."""
    store = LocalMediaStore(root=str(tmp_path / "store"))
    return {
        "store": store,
        "drops": LocalDropZone(root=str(drops_root)),
        "generator": LocalVideoGenerator(max_concurrent=2),
        "records_io_manager": StoreRecordIOManager(store=store),
    }


def add_campaign_partition(instance: DagsterInstance, campaign: str) -> None:
    """Register a campaign the way the sensor or the CLI would."""
    instance.add_dynamic_partitions(campaign_partitions.name, [campaign])
