"""Dagster's overhead on the demo campaign: the whole run beside the sum of its ffmpeg work, in one process.

Prints (1) the whole materialization of the demo campaign on a real instance, (2) the same media work called
directly (normalize, animate with the same concurrency, assemble), and the ratio between them.

    python bench/bench_pipeline.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dagster import instance_for_test, materialize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media_pipeline.assets import campaign_assets  # noqa: E402
from media_pipeline.campaign import load_campaign  # noqa: E402
from media_pipeline.demo import DEMO_CAMPAIGN, write_demo_campaign  # noqa: E402
from media_pipeline.media.assemble import assemble  # noqa: E402
from media_pipeline.media.formats import frame_size  # noqa: E402
from media_pipeline.media.images import normalize_image  # noqa: E402
from media_pipeline.media.render import animate  # noqa: E402
from media_pipeline.partitions import campaign_partitions  # noqa: E402
from media_pipeline.resources.drops import LocalDropZone  # noqa: E402
from media_pipeline.resources.generator import LocalVideoGenerator  # noqa: E402
from media_pipeline.resources.io_manager import StoreRecordIOManager  # noqa: E402
from media_pipeline.resources.storage import LocalMediaStore  # noqa: E402

CONCURRENCY = 2


def dagster_run(root: Path) -> float:
    """The demo campaign materialized end to end on a real instance; seconds."""
    store = LocalMediaStore(root=str(root / "store"))
    resources = {
        "store": store,
        "drops": LocalDropZone(root=str(root / "drops")),
        "generator": LocalVideoGenerator(max_concurrent=CONCURRENCY),
        "records_io_manager": StoreRecordIOManager(store=store),
    }
    (root / "dagster").mkdir()
    with instance_for_test(temp_dir=str(root / "dagster")) as instance:
        instance.add_dynamic_partitions(campaign_partitions.name, [DEMO_CAMPAIGN])
        started = time.perf_counter()
        result = materialize(campaign_assets, resources=resources, partition_key=DEMO_CAMPAIGN, instance=instance)
        elapsed = time.perf_counter() - started
    assert result.success
    return elapsed


def media_only(root: Path) -> float:
    """The same normalize + animate + assemble work called directly; seconds."""
    folder = root / "drops" / DEMO_CAMPAIGN
    campaign = load_campaign(DEMO_CAMPAIGN, os.listdir(folder), (folder / "campaign.yaml").read_text())
    manifest = campaign.manifest
    work = root / "direct"
    work.mkdir()
    started = time.perf_counter()

    def one(shot) -> tuple[str, Path]:
        image = work / f"{shot.shot_id}.png"
        normalize_image(folder / shot.image, image)
        clip = work / f"{shot.shot_id}.mp4"
        animate(image, clip, prompt=campaign.full_prompt(shot), duration=shot.duration,
                resolution=manifest.resolution, aspect_ratio=manifest.aspect_ratio)
        return shot.shot_id, clip

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        clips = list(pool.map(one, campaign.shots))
    width, height = frame_size(manifest.resolution, manifest.aspect_ratio)
    out = work / "out"
    out.mkdir()
    assemble(clips, out, spec=manifest.deliverable, name=DEMO_CAMPAIGN, width=width, height=height)
    return time.perf_counter() - started


def _fresh(parent: Path, name: str) -> Path:
    root = parent / name
    write_demo_campaign(root / "drops")
    return root


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        media_only(_fresh(Path(tmp), "warm-up"))  # imports, page cache and ffmpeg start-up paid once for both
        ours = dagster_run(_fresh(Path(tmp), "dagster"))
        direct = media_only(_fresh(Path(tmp), "direct"))
    print("demo campaign (4 shots x 2 s, 480p, crossfades), measured side by side in one process")
    print(f"  whole Dagster run            {ours:7.2f} s")
    print(f"  its ffmpeg work, called bare {direct:7.2f} s")
    print(f"  Dagster overhead ratio       {ours / direct:7.2f}x  ({ours - direct:+.2f} s)")


if __name__ == "__main__":
    main()
