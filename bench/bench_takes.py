"""Benchmark what keeping each take's scores beside its clip saves on a re-run.

A campaign of ``--shots`` shots x ``--takes`` takes (480p, 1 s, the offline local generator) is materialized up to
``generated_clips`` on a real instance (not timed: the first run), then side by side:

- ours: a re-run that reads every take's ``clips/<key>.scores.json`` (no clip fetched or decoded);
- rescoring: the same re-run with the scores files removed, so every take is fetched, decoded and scored again
  (what reading scores back from anywhere but the store beside the clip would come down to after a lost record).

Target: ours below rescoring. Run: ``nice python bench/bench_takes.py`` (4 shots x 3 takes) or
``--shots 2 --takes 2`` for a smoke run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dagster import AssetKey, instance_for_test, materialize  # noqa: E402

from media_pipeline.assets import campaign_assets  # noqa: E402
from media_pipeline.partitions import campaign_partitions  # noqa: E402
from media_pipeline.resources.drops import LocalDropZone  # noqa: E402
from media_pipeline.resources.generator import LocalVideoGenerator  # noqa: E402
from media_pipeline.resources.io_manager import StoreRecordIOManager  # noqa: E402
from media_pipeline.resources.store import LocalMediaStore  # noqa: E402
from media_pipeline_tests.builders import SMALL_MANIFEST, write_campaign  # noqa: E402

STAGES = [AssetKey(name) for name in ("source_images", "hosted_images", "generated_clips")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--takes", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-takes-"))
    try:
        write_campaign(root / "drops", "bench", shots=args.shots, manifest=SMALL_MANIFEST + f"takes: {args.takes}\n")
        store = LocalMediaStore(root=str(root / "store"))
        resources = {
            "store": store,
            "drops": LocalDropZone(root=str(root / "drops")),
            "generator": LocalVideoGenerator(max_concurrent=2),
            "records_io_manager": StoreRecordIOManager(store=store),
        }
        (root / "dagster_home").mkdir()
        with instance_for_test(temp_dir=str(root / "dagster_home")) as instance:
            instance.add_dynamic_partitions(campaign_partitions.name, ["bench"])

            def run() -> float:
                started = time.perf_counter()
                result = materialize(
                    campaign_assets, resources=resources, partition_key="bench", instance=instance, selection=STAGES
                )
                assert result.success
                return time.perf_counter() - started

            first = run()
            ours = run()
            for scores in (root / "store" / "clips").glob("*.scores.json"):
                scores.unlink()
            rescoring = run()
        takes = args.shots * args.takes
        print(f"{takes} takes ({args.shots} shots x {args.takes}), 480p 1 s, local generator; first run {first:.1f} s")
        print(f"re-run, scores beside the clips: {ours:.1f} s | every take rescored: {rescoring:.1f} s | "
              f"ratio {rescoring / ours:.1f}x (target: ours below)")  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
