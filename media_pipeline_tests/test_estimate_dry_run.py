"""``media-pipeline estimate`` is a true dry run: it prices the uncached shots and records nothing (no Dagster run,
partition or materialization, no key in the store), beside a campaign that already ran and a new one alike."""

import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance

from .builders import SMALL_MANIFEST, local_cli_env, sample_image, write_campaign


def _cli(args, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "media_pipeline.cli", *args],
        env=local_cli_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _recorded(home: Path) -> tuple[int, list[str], set[str]]:
    """The runs and campaign partitions on the instance at ``home``, and every key in its store."""
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs, partitions = instance.get_runs_count(), instance.get_dynamic_partitions("campaigns")
    root = home / "store"
    return runs, partitions, {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_estimate_records_no_run_no_partition_and_no_store_key(tmp_path):
    home = tmp_path / "home"
    folder = write_campaign(home / "drops", "spring", shots=2, manifest=SMALL_MANIFEST)
    write_campaign(home / "drops", "summer", shots=3, manifest=SMALL_MANIFEST)
    ran = _cli(["run", "spring"], home)
    assert ran.returncode == 0, ran.stderr[-2000:]
    sample_image(77).save(folder / "shot_2.png")  # one shot changed since the run
    before = _recorded(home)
    assert before[0] == 1 and before[1] == ["spring"] and before[2]

    changed = _cli(["estimate", "spring"], home)
    new = _cli(["estimate", "summer"], home)

    assert changed.returncode == 0 and "campaign spring: 1 uncached shot(s)" in changed.stdout, changed.stderr
    # summer's first two images are spring's (the same builder seeds): their clips are in the store already
    assert new.returncode == 0 and "campaign summer: 1 uncached shot(s)" in new.stdout, new.stderr
    assert _recorded(home) == before  # no new run, no new partition, no new key in the store
    assert "DEBUG" not in changed.stdout + changed.stderr + new.stdout + new.stderr
