"""Catalog drops end to end: the sensor registers one campaign per row, each run goes through the real xai_sdk client
to the emulator on a real Dagster instance, an edited row re-runs only its SKU, a removed row is reported with its
files kept, and bad rows fail their SKU alone with the catalog's row and column named.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, SensorResult, materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.media.probe import probe

from .builders import local_cli_env, sample_image
from .test_sensors import _tick
from .xai_builders import xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

TEMPLATE = """\
resolution: 480p
duration: 1
aspect_ratio: "16:9"
shots:
  - image: "{image}"
    id: hero
    prompt: "slow push-in on the {color} {title}"
"""
TINY = (160, 90)


def _age(folder: Path, seconds: float = 120) -> None:
    """Let a drop settle: files written in the last ``seconds`` look that old (older ones keep their times)."""
    then = time.time() - seconds
    for path in folder.iterdir():
        if path.stat().st_mtime > then:
            os.utime(path, (then, then))


def _run_all(instance, resources, result: SensorResult) -> dict:
    """Each run the tick requested, as the daemon would launch it (partition and tags)."""
    return {
        r.partition_key: materialize(
            campaign_assets,
            resources=resources,
            partition_key=r.partition_key,
            instance=instance,
            tags=r.tags,
            raise_on_error=False,
        )
        for r in result.run_requests
    }


def _failure(result) -> str:
    (event,) = result.get_step_failure_events()
    assert event.step_key == "source_images"
    return event.event_specific_data.error.message


def write_catalog_drop(folder: Path, template: str, rows: list[dict[str, str]]) -> Path:
    """A settled catalog drop in ``folder``: the template, a sample picture for each row's ``image`` (the n-th row's
    is picture n) and the catalog."""
    folder.mkdir()
    (folder / "campaign.yaml").write_text(template, encoding="utf-8")
    for n, row in enumerate(rows, 1):
        sample_image(n, TINY).save(folder / row["image"])
    _write_csv(folder, rows)
    _age(folder)
    return folder


def _write_csv(folder: Path, rows: list[dict[str, str]]) -> None:
    columns = list(rows[0])
    lines = [",".join(columns)] + [",".join(row[c] for c in columns) for row in rows]
    (folder / "catalog.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.slow
def test_a_twenty_row_catalog_delivers_twenty_campaigns_and_an_edited_row_reruns_its_sku_alone(
    instance, drops_root, local_resources, xai_emulator
):
    rows = [
        {"sku": f"SKU {n:02d}", "title": f"Runner {n}", "color": "red", "image": f"sku{n:02d}.png"}
        for n in range(1, 21)
    ]
    folder = write_catalog_drop(drops_root / "shoes", TEMPLATE, rows)
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))

    first = _tick(instance, drops_root)
    campaigns = [f"shoes-sku-{n:02d}" for n in range(1, 21)]
    assert [list(r.partition_keys) for r in first.dynamic_partitions_requests] == [campaigns]  # one request
    assert {r.tags["media_pipeline/catalog"] for r in first.run_requests} == {"shoes"}
    results = _run_all(instance, resources, first)
    assert sorted(results) == campaigns and all(r.success for r in results.values())
    assert xai_emulator.count("GenerateVideo", "OK") == 20
    store = Path(local_resources["store"].root)
    for campaign in campaigns:
        assert probe(store / f"deliverables/{campaign}/{campaign}.mp4").video_duration == pytest.approx(1.0, abs=0.1)
    source = instance.get_latest_materialization_event(AssetKey("source_images")).asset_materialization
    assert source.partition == "shoes-sku-20" and source.metadata["catalog_row"].value == 21
    assert source.metadata["sku"].value == "SKU 20"

    journals = {c: sorted(p.name for p in (store / "jobs" / c).iterdir()) for c in campaigns}
    rows[6]["title"] = "Trail Runner"  # row 8 of the sheet, campaign shoes-sku-07
    removed = rows.pop()  # the last row goes; its published files stay
    _write_csv(folder, rows)
    _age(folder)
    xai_emulator.reset_counts()
    second = _tick(instance, drops_root, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["shoes-sku-07"]
    assert not second.dynamic_partitions_requests
    assert [(e.partition, e.metadata["catalog_row_removed"].value) for e in second.asset_events] == [
        ("shoes-sku-20", "shoes")
    ]
    assert _run_all(instance, resources, second)["shoes-sku-07"].success
    assert xai_emulator.count("GenerateVideo", "OK") == 1 and len(xai_emulator.paid_requests) == 1
    for campaign in campaigns:
        now = sorted(p.name for p in (store / "jobs" / campaign).iterdir())
        assert (now != journals[campaign]) == (campaign == "shoes-sku-07"), campaign
    assert removed["sku"] == "SKU 20" and (store / "deliverables/shoes-sku-20/shoes-sku-20.mp4").is_file()
    assert not _tick(instance, drops_root, second.cursor).run_requests  # removal reported once, nothing runs


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain HTTP file server on loopback (the download rules allow http only there), stopped after the test."""
    root = tmp_path / "web"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_bad_rows_fail_their_sku_alone_with_row_and_column_named(
    instance, drops_root, local_resources, xai_emulator, image_server
):
    web, base = image_server
    sample_image(5, TINY).save(web / "boot.png")
    (web / "notes.txt").write_text("not an image")
    folder = drops_root / "fall"
    folder.mkdir()
    (folder / "campaign.yaml").write_text(TEMPLATE, encoding="utf-8")
    sample_image(1, TINY).save(folder / "runner.png")
    rows = [
        {"sku": "file", "title": "Runner", "color": "red", "image": "runner.png"},
        {"sku": "url", "title": "Boot", "color": "tan", "image": f"{base}/boot.png"},
        {"sku": "missing", "title": "Runner", "color": "red", "image": "runner2.png"},
        {"sku": "plain-http", "title": "Boot", "color": "tan", "image": "http://cdn.example.com/boot.png"},
        {"sku": "gone", "title": "Boot", "color": "tan", "image": f"{base}/nothing.png"},
        {"sku": "text", "title": "Boot", "color": "tan", "image": f"{base}/notes.txt"},
        {"sku": "typo", "title": "Boot", "colour": "tan", "image": "runner.png"},
    ]
    (folder / "catalog.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    _age(folder)
    results = _run_all(
        instance, dict(local_resources, generator=xai_generator_for(xai_emulator)), _tick(instance, drops_root)
    )

    assert sorted(c for c, r in results.items() if r.success) == ["fall-file", "fall-url"]
    assert xai_emulator.count("GenerateVideo", "OK") == 2  # nothing paid for a bad row
    expected = {
        "fall-missing": "row 3, column 'image': 'runner2.png' was not dropped beside the catalog",
        "fall-plain-http": "row 4, column 'image': refusing to fetch http://cdn.example.com/boot.png",
        "fall-gone": "row 5, column 'image' (",
        "fall-text": "row 6, column 'image' (",
        "fall-typo": "row 7, column 'color': missing, and the template uses {color}",
    }
    for campaign, text in expected.items():
        message = _failure(results[campaign])
        assert f"campaign {campaign!r}" in message and "catalog.jsonl" in message and text in message, message
    assert "HTTP 404" in _failure(results["fall-gone"])
    assert "content type 'text/plain'" in _failure(results["fall-text"])


@pytest.mark.slow
def test_the_command_runs_one_sku_of_a_catalog_and_refuses_a_bad_row_before_registering_it(tmp_path):
    folder = tmp_path / "drops" / "shoes"
    folder.mkdir(parents=True)
    (folder / "campaign.yaml").write_text(TEMPLATE, encoding="utf-8")
    sample_image(3, TINY).save(folder / "runner.png")
    _write_csv(folder, [
        {"sku": "A1", "title": "Runner", "color": "red", "image": "runner.png"},
        {"sku": "B2", "title": "Boot", "color": "", "image": "runner.png"},
    ])  # fmt: skip

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "media_pipeline.cli", *args, "--json"]
        return subprocess.run(command, env=local_cli_env(tmp_path), capture_output=True, text=True, timeout=300)

    done = cli("run", "shoes-a1")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert [(s["shot"], s["status"]) for s in summary["shots"]] == [("hero", "generated")]
    assert probe(Path(summary["deliverables"][0])).video_duration == pytest.approx(1.0, abs=0.1)
    refused = cli("run", "shoes-b2")
    assert refused.returncode == 1
    assert "row 3, column 'color': empty, and the template uses {color}" in json.loads(refused.stdout)["error"]
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.get_dynamic_partitions("campaigns") == ["shoes-a1"]
