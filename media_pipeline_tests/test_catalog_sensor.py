"""image_drop_sensor over catalog drops, on a real instance without running anything: a drop settles as a whole,
a column the template does not use changes nothing, problems are logged once, a broken catalog keeps its rows."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from dagster import SensorResult

from .builders import sample_image
from .test_sensors import _tick

TEMPLATE = 'duration: 1\nshots:\n  - image: "{image}"\n    prompt: "the {title}"\n'


def _write(folder: Path, catalog: str, age: float = 120) -> None:
    (folder / "catalog.csv").write_text(catalog, encoding="utf-8")
    then = time.time() - age
    os.utime(folder / "catalog.csv", (then, then))


@pytest.fixture
def shoes(drops_root: Path) -> Path:
    folder = drops_root / "shoes"
    folder.mkdir()
    (folder / "campaign.yaml").write_text(TEMPLATE, encoding="utf-8")
    sample_image(1, (160, 90)).save(folder / "a.png")
    then = time.time() - 120
    for path in folder.iterdir():
        os.utime(path, (then, then))
    _write(folder, "sku,title,price,image\nA1,Runner,80,a.png\nB2,Boot,95,a.png\n")
    return folder


def _runs(result: SensorResult) -> list[str]:
    return [r.partition_key for r in result.run_requests or []]


def test_a_catalog_settles_as_a_whole_and_only_what_a_row_makes_counts(instance, drops_root, shoes):
    first = _tick(instance, drops_root)
    assert _runs(first) == ["shoes-a1", "shoes-b2"]
    _write(shoes, "sku,title,price,image\nA1,Runner,85,a.png\nB2,Tall Boot,95,a.png\n", age=0)
    waiting = _tick(instance, drops_root, first.cursor)
    assert not _runs(waiting) and "waiting for shoes-b2 to settle" in waiting.skip_reason.skip_message
    _write(shoes, "sku,title,price,image\nA1,Runner,85,a.png\nB2,Tall Boot,95,a.png\n")
    assert _runs(_tick(instance, drops_root, waiting.cursor)) == ["shoes-b2"]  # a price the template ignores


def test_problems_are_logged_once_and_a_broken_catalog_keeps_its_rows(instance, drops_root, shoes, capfd):
    first = _tick(instance, drops_root)
    _write(shoes, "sku,title,image\nA1,Runner,a.png\nB2,Boot,a.png\n,Clog,a.png\n")
    capfd.readouterr()
    second = _tick(instance, drops_root, first.cursor)
    third = _tick(instance, drops_root, second.cursor)
    assert capfd.readouterr().err.count("row 4, column 'sku': empty; the row is skipped") == 1  # the sensor's log
    assert not _runs(second) and not _runs(third)

    _write(shoes, "title,image\nRunner,a.png\n")  # no sku column: the drop as a whole is refused
    broken = _tick(instance, drops_root, third.cursor)
    said = capfd.readouterr().err
    assert "no 'sku' column" in said and "was removed" not in said
    assert not _runs(broken) and not broken.asset_events

    _write(shoes, "sku,title,image\nA1,Runner,a.png\n")  # fixed, and B2 is gone
    fixed = _tick(instance, drops_root, broken.cursor)
    assert "the row of campaign 'shoes-b2' was removed" in capfd.readouterr().err
    removed = [(e.partition, e.metadata["catalog_row_removed"].value) for e in fixed.asset_events]
    assert removed == [("shoes-b2", "shoes")]
    assert "catalog rows removed: shoes-b2" in fixed.skip_reason.skip_message
