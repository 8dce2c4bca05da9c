"""What a UI run of the demo campaign costs beside its bare ffmpeg work, and what an unchanged re-run costs.

The run is launched the way the UI's Materialize button launches it: ``__ASSET_JOB`` for the ``demo`` partition,
submitted to a real instance (``dagster job launch``: a code server, the default run launcher, a run worker process)
with the code location's default executor, and timed from the instance's own run record. Beside it, the same
normalize + animate + assemble work called directly in this process. Then the same run again on the unchanged drop.
``--multiprocess`` adds the same first run with one process per step, the executor Dagster picks by default.

    python bench/bench_pipeline.py [--multiprocess]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from media_pipeline.campaign import load_campaign  # noqa: E402
from media_pipeline.demo import DEMO_CAMPAIGN, write_demo_campaign  # noqa: E402
from media_pipeline.media.animate import animate_still  # noqa: E402
from media_pipeline.media.assemble import AssemblySpec, assemble  # noqa: E402
from media_pipeline.media.formats import frame_size  # noqa: E402
from media_pipeline.media.images import normalize_image  # noqa: E402
from media_pipeline.partitions import campaign_partitions  # noqa: E402

CONCURRENCY = 2
UI_JOB = "__ASSET_JOB"  # what Materialize in the asset graph launches (see the README, "One job")
INSTANCE_YAML = "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: DefaultRunCoordinator\n"
MULTIPROCESS_LOCATION = (
    "from dagster import multiprocess_executor\n"
    "from media_pipeline.definitions import build_defs\n"
    "defs = build_defs(executor=multiprocess_executor)\n"
)


class Home:
    """A pipeline home with the demo drop, and a Dagster instance that launches runs at once (no daemon)."""

    def __init__(self, root: Path):
        self.root = root
        self.dagster_home = root / "dagster_home"
        self.dagster_home.mkdir(parents=True)
        (self.dagster_home / "dagster.yaml").write_text(INSTANCE_YAML, encoding="utf-8")
        write_demo_campaign(root / "drops")
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.dagster_home),
            "MEDIA_PIPELINE_HOME": str(root),
            "MEDIA_PIPELINE_GENERATOR": "local",
            "MEDIA_PIPELINE_MAX_CONCURRENT_GENERATIONS": str(CONCURRENCY),
            "TMPDIR": str(root / "tmp"),  # the run's segment cache starts empty
        }
        (root / "tmp").mkdir()
        with self.instance() as instance:
            instance.add_dynamic_partitions(campaign_partitions.name, [DEMO_CAMPAIGN])

    def instance(self) -> DagsterInstance:
        return DagsterInstance.from_config(str(self.dagster_home))

    def ui_run(self, location: list[str]) -> tuple[float, float]:
        """Launch the UI's run of the demo partition; (run seconds as the UI shows them, launch to end)."""
        started = time.perf_counter()
        subprocess.run(
            [
                str(Path(sys.executable).parent / "dagster"),
                "job",
                "launch",
                *location,
                "-j",
                UI_JOB,
                "--tags",
                json.dumps({"dagster/partition": DEMO_CAMPAIGN}),
            ],
            env=self.env,
            cwd=self.root,
            check=True,
            capture_output=True,
        )
        with self.instance() as instance:
            while True:
                record = instance.get_run_records(limit=1)[0]
                if record.dagster_run.is_finished:
                    break
                time.sleep(0.2)
        wall = time.perf_counter() - started
        if record.dagster_run.status != DagsterRunStatus.SUCCESS:
            with self.instance() as instance:
                failures = [
                    e.message
                    for e in instance.all_logs(record.dagster_run.run_id)
                    if e.is_dagster_event and e.dagster_event.is_step_failure
                ]
            raise SystemExit(f"the run {record.dagster_run.run_id} ended {record.dagster_run.status.value}: {failures}")
        return record.end_time - record.start_time, wall


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
        animate_still(
            image,
            clip,
            prompt=campaign.full_prompt(shot),
            duration=shot.duration,
            resolution=manifest.resolution,
            aspect_ratio=manifest.aspect_ratio,
        )
        return shot.shot_id, clip

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        clips = list(pool.map(one, campaign.shots))
    width, height = frame_size(manifest.resolution, manifest.aspect_ratio)
    out = work / "out"
    out.mkdir()
    spec = AssemblySpec(**manifest.deliverable.model_dump(exclude={"soundtrack"}), width=width, height=height)
    assemble(clips, out, spec=spec, name=DEMO_CAMPAIGN)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--multiprocess", action="store_true", help="also time the run with a process per step")
    args = parser.parse_args()
    own = ["-m", "media_pipeline.definitions", "-a", "defs"]
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        media_only(Home(Path(tmp) / "warm-up").root)  # imports, page cache and ffmpeg start-up paid once
        direct = media_only(Home(Path(tmp) / "direct").root)
        home = Home(Path(tmp) / "ui")
        first, first_wall = home.ui_run(own)
        second, second_wall = home.ui_run(own)
        isolated = None
        if args.multiprocess:
            other = Home(Path(tmp) / "multiprocess")
            (other.root / "location.py").write_text(MULTIPROCESS_LOCATION, encoding="utf-8")
            isolated = other.ui_run(["-f", str(other.root / "location.py")])
    print(f"demo campaign (4 shots x 2 s, 480p, crossfades), a UI run ({UI_JOB}, default executor), real instance")
    print(f"  its ffmpeg work, called bare        {direct:7.2f} s")
    print(f"  UI run, as the run page shows it    {first:7.2f} s   {first / direct:5.2f}x   (target <= 1.30x)")
    print(f"    launch to end (+ this CLI's code server) {first_wall:7.2f} s")
    print(f"  second run, drop unchanged          {second:7.2f} s            (target < 3 s)")
    print(f"    launch to end                     {second_wall:7.2f} s")
    if isolated:
        print(f"  UI run, one process per step        {isolated[0]:7.2f} s   {isolated[0] / direct:5.2f}x")


if __name__ == "__main__":
    main()
