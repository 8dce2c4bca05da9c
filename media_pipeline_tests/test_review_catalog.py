"""A catalog drop under review: every SKU is its own draft, approved on its own. The drop sensor's runs only make
drafts; approving two SKUs at once publishes those two (0 API calls) and leaves the third waiting; an edited row
voids its own SKU's approval alone, while its approved set stays published."""

from dagster import DagsterInstance

from media_pipeline.factory import build_pipeline_defs
from media_pipeline.resources.drops import LocalDropZone
from media_pipeline.resources.publish import current_deliverable
from media_pipeline.resources.review import awaiting_approval, current_review
from media_pipeline.review_cli import approve_campaigns

from .test_catalog_drops import TEMPLATE, _age, _run_all, _tick, _write_csv, write_catalog_drop
from .xai_builders import xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]


def test_each_sku_of_a_catalog_is_drafted_and_approved_on_its_own(
    instance: DagsterInstance, drops_root, local_resources, xai_emulator
):
    rows = [{"sku": f"T{n}", "title": f"Tee {n}", "color": "blue", "image": f"tee{n}.png"} for n in range(1, 4)]
    folder = write_catalog_drop(drops_root / "tees", "review: required\n" + TEMPLATE, rows)
    store = local_resources["store"]
    generator = xai_generator_for(xai_emulator)
    resources = dict(local_resources, generator=generator)
    defs = build_pipeline_defs(drops=LocalDropZone(root=str(drops_root)), store=store, generator=generator)

    first = _tick(instance, drops_root)
    assert all(result.success for result in _run_all(instance, resources, first).values())
    skus = ["tees-t1", "tees-t2", "tees-t3"]
    assert [review.campaign for review in awaiting_approval(store)] == skus
    assert all(current_deliverable(store, sku) is None for sku in skus)  # the sensor's runs published nothing

    calls = xai_emulator.calls
    approved = approve_campaigns(defs, instance, skus[:2])
    assert approved.status == "success" and xai_emulator.calls == calls
    assert [review.campaign for review in awaiting_approval(store)] == ["tees-t3"]
    published = {sku: current_deliverable(store, sku).version for sku in skus[:2]}

    rows[0]["title"] = "Crew Tee"  # row 2 of the sheet: SKU T1's prompt changes
    _write_csv(folder, rows)
    _age(folder)
    second = _tick(instance, drops_root, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["tees-t1"]
    assert _run_all(instance, resources, second)["tees-t1"].success
    assert "shot 'hero' has another clip" in current_review(store, "tees-t1").detail
    assert [review.campaign for review in awaiting_approval(store)] == ["tees-t1", "tees-t3"]
    assert {sku: current_deliverable(store, sku).version for sku in skus[:2]} == published  # both still published
    assert current_review(store, "tees-t2").status == "approved"
