"""The Dagster UI in a real browser: what a user sees and clicks, from the asset graph to a delivered campaign.

Playwright drives Debian's Chromium (``/usr/bin/chromium``; no browser is downloaded) against ``dagster dev`` on a
free loopback port. The test reads the asset graph as drawn (the four assets and the edges between them), adds a
new campaign partition and launches it from the Materialize dialog with clicks only, waits on the run page for the
run to succeed, reads that campaign's check results in the run's events, then the deliverable's metadata (path,
duration, poster preview) on the asset's partition page. Selectors are roles and visible text, and asset names
are matched as substrings, so a key prefix per pipeline does not break them. Each step leaves a screenshot in the
test's artifacts folder (``$MEDIA_PIPELINE_TEST_ARTIFACTS/<test>`` or pytest's tmp dir). A quick test beside it
checks that stopping ``dagster dev``'s process group ends every process in it, even one deaf to SIGTERM.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from .builders import SMALL_MANIFEST, write_campaign
from .dagster_dev_fixtures import DagsterDev, stop_process_group

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
CHAIN = ("source_images", "hosted_images", "generated_clips", "deliverable")
CHECKS = ("images_valid", "first_frames_faithful", "deliverable_conformant")
CAMPAIGN = "ui-spring"
RUN_TIMEOUT_MS = 300_000
# the asset graph as drawn: node boxes (SVG foreignObjects with the asset's name) and edge paths (with an arrow)
GRAPH_JS = """() => ({
  nodes: [...document.querySelectorAll('svg foreignObject')].map(n => ({
    text: n.textContent, x: +n.getAttribute('x'), y: +n.getAttribute('y'),
    width: +n.getAttribute('width'), height: +n.getAttribute('height')})),
  edges: [...document.querySelectorAll('svg path[marker-end]')].map(p => p.getAttribute('d')),
})"""
# the drawn graph's bounding box in the window, with a margin: the README's picture of it
GRAPH_BOX_JS = """() => {
  const boxes = [...document.querySelectorAll('svg foreignObject')].map(n => n.getBoundingClientRect());
  const x = Math.max(Math.min(...boxes.map(b => b.left)) - 24, 0);
  const y = Math.max(Math.min(...boxes.map(b => b.top)) - 24, 0);
  const right = Math.min(Math.max(...boxes.map(b => b.right)) + 24, window.innerWidth);
  const bottom = Math.min(Math.max(...boxes.map(b => b.bottom)) + 24, window.innerHeight);
  return {x, y, width: right - x, height: bottom - y};
}"""


@pytest.fixture
def page() -> Iterator[Page]:
    """A Chromium page (1600x900) waiting up to 30 s for elements; the browser is closed on teardown."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1600, "height": 900})
            tab.set_default_timeout(30_000)
            expect.set_options(timeout=30_000)
            yield tab
        finally:
            browser.close()


def _node_at(nodes: list[dict], point: list[float]) -> dict:
    """The node box nearest to an edge's end point (edges start and end on a box's border)."""

    def distance(node: dict) -> float:
        dx = max(node["x"] - point[0], 0.0, point[0] - node["x"] - node["width"])
        dy = max(node["y"] - point[1], 0.0, point[1] - node["y"] - node["height"])
        return math.hypot(dx, dy)

    nearest = min(nodes, key=distance)
    assert distance(nearest) < 20, f"an edge ends at {point}, on no asset node"
    return nearest


def _asset_name(node: dict) -> str | None:
    """Which of the chain's assets a node draws (by substring, so a key prefix does not matter)."""
    names = [name for name in CHAIN if name in node["text"]]
    assert len(names) <= 1, f"ambiguous node {node['text']!r}"
    return names[0] if names else None


def drawn_edges(page: Page) -> set[tuple[str, str]]:
    """The edges between the chain's assets as the lineage graph draws them: (upstream, downstream)."""
    page.wait_for_function(f"() => ({GRAPH_JS})().edges.length >= {len(CHAIN) - 1}")  # laid out, edges drawn
    graph = page.evaluate(GRAPH_JS)
    drawn = sorted(filter(None, map(_asset_name, graph["nodes"])))
    assert drawn == sorted(CHAIN), f"asset nodes drawn: {drawn}"
    edges = set()
    for path in graph["edges"]:
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path)]
        ends = (_asset_name(_node_at(graph["nodes"], numbers[:2])), _asset_name(_node_at(graph["nodes"], numbers[-2:])))
        if None not in ends:
            edges.add(ends)
    return edges


def add_and_select_partition(page: Page, campaign: str) -> None:
    """In the open launch dialog: "Add a partition" for ``campaign``, then make sure it is the one selected.

    Dagster's dialog selects a partition it has just added, but a refetch of the partition list now and then drops
    that selection again (about one time in three here), so the campaign is then ticked in the partition picker.
    """
    launch_dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    page.get_by_text("Add a partition", exact=True).click()
    add_partition = page.get_by_role("dialog").filter(has_text="Add a partition for")
    add_partition.get_by_role("textbox").fill(campaign)
    add_partition.get_by_role("button", name="Save").click()
    expect(add_partition).to_have_count(0)
    launch_dialog.get_by_role("img", name=re.compile("^expand_")).click()  # the partition picker
    picker_filter = page.get_by_role("textbox", name="Filter partitions")
    picker_filter.fill(campaign)
    item = page.get_by_role("menuitem", name=re.compile(rf"^{re.escape(campaign)}\b"))
    if not item.get_by_role("checkbox").is_checked():
        item.click()
    expect(item.get_by_role("checkbox")).to_be_checked()
    launch_dialog.get_by_text(re.compile("^Launch runs to materialize")).click()  # closes the picker
    expect(picker_filter).to_have_count(0)


def zoom_at_rest(page: Page) -> None:
    """Wait until the graph's zoom (its slider) holds still for 300 ms: the fit-to-window animation is over."""
    zoom = page.get_by_role("slider")
    page.wait_for_function(
        """slider => new Promise(resolve => {
             const first = slider.getAttribute('aria-valuenow');
             setTimeout(() => resolve(slider.getAttribute('aria-valuenow') === first), 300);
           })""",
        arg=zoom.element_handle(),
        polling=100,
    )


def snap(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"))


def test_stopping_the_group_ends_every_process_in_it_even_one_that_ignores_sigterm() -> None:
    script = "trap '' TERM; sleep 60 & sleep 60 & wait"  # a leader and two children, all deaf to SIGTERM
    leader = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    children_file = Path(f"/proc/{leader.pid}/task/{leader.pid}/children")
    deadline = time.monotonic() + 10
    while len(children := children_file.read_text().split()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(children) == 2
    started = time.monotonic()
    stop_process_group(leader, grace=1)
    assert time.monotonic() - started < 5
    for pid in [leader.pid, *map(int, children)]:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z", f"process {pid} lives on"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed: apt-get install chromium")
def test_a_new_campaign_is_materialized_from_the_ui_and_its_results_are_shown(
    dagster_dev: DagsterDev, page: Page, artifacts_dir: Path
) -> None:
    write_campaign(dagster_dev.drops, CAMPAIGN, shots=2, manifest=SMALL_MANIFEST, size=(160, 90))

    # the global asset lineage draws the four assets, connected along the chain and only downstream
    page.goto(f"{dagster_dev.url}/asset-groups")
    edges = drawn_edges(page)
    assert set(zip(CHAIN, CHAIN[1:], strict=False)) <= edges, edges
    assert all(CHAIN.index(up) < CHAIN.index(down) for up, down in edges), edges
    snap(page, artifacts_dir, "01_asset_graph")

    # Materialize all -> add the new campaign as a partition -> launch one run, by clicks only
    page.get_by_role("button", name=re.compile("Materialize all")).click()
    add_and_select_partition(page, CAMPAIGN)
    launch = page.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_enabled()
    snap(page, artifacts_dir, "02_launch_dialog")
    launch.click()
    page.get_by_role("link", name="View", exact=True).click()  # in the "Launched run" toast

    # the run page: this campaign's partition, then success
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    expect(page.get_by_text(re.compile(rf"partition: {CAMPAIGN}$"))).to_be_visible()
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$"))
    expect(status).to_be_visible(timeout=RUN_TIMEOUT_MS)
    snap(page, artifacts_dir, "03_run")
    assert status.inner_text() == "Success", f"the run ended {status.inner_text()}; see 03_run.png"

    # that campaign's check results, among the run's events
    page.get_by_placeholder(re.compile("^Filter")).fill("type:ASSET_CHECK_EVALUATION")
    for check in CHECKS:
        expect(page.get_by_text(re.compile(rf"Check \S*{check}\S* succeeded"))).to_be_visible()
    snap(page, artifacts_dir, "04_run_checks")

    # the deliverable's metadata for this campaign: Catalog -> deliverable -> Partitions -> the campaign
    nav = page.get_by_role("navigation")
    nav.get_by_role("link", name=re.compile(r"Catalog$")).click()
    page.get_by_role("link", name=re.compile("deliverable")).first.click()
    page.get_by_role("tab", name="Partitions").click()
    page.get_by_text(CAMPAIGN, exact=True).filter(visible=True).first.click()
    expect(page).to_have_url(re.compile(rf"partition={re.escape(CAMPAIGN)}"))
    page.reload()  # the same view without the "Launched run" toast over the metadata
    rows = page.get_by_role("row")
    expect(rows.filter(has=page.get_by_text("path", exact=True))).to_contain_text(f"{CAMPAIGN}.mp4")
    duration = rows.filter(has=page.get_by_text(re.compile(r"^duration"))).get_by_role("cell").nth(1)
    assert 1.0 < float(re.search(r"\d+(\.\d+)?", duration.inner_text())[0]) <= 2.0  # 2 shots of 1 s, a crossfade
    snap(page, artifacts_dir, "05_deliverable")

    # the poster preview: inline where the UI renders it, else behind the metadata entry's one click
    poster = page.get_by_role("img", name=re.compile("poster", re.IGNORECASE)).first
    if not poster.is_visible():
        rows.filter(has_text=re.compile("poster", re.IGNORECASE)).get_by_text("Show Markdown").first.click()
    expect(poster).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=poster.element_handle())
    snap(page, artifacts_dir, "06_poster_preview")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    # a check's own page: its result belongs to this campaign (partitioned checks), not "Partition: -"
    page.goto(f"{dagster_dev.url}/assets/deliverable?view=checks")
    page.get_by_text("deliverable_complete", exact=True).filter(visible=True).first.click()
    expect(page.get_by_text("Partition", exact=True).first).to_be_visible()  # the latest execution's partition ...
    expect(page.get_by_text(CAMPAIGN, exact=True).filter(visible=True).first).to_be_visible()  # ... is the campaign
    snap(page, artifacts_dir, "06b_check_of_the_campaign")

    # the lineage after the run: navigation folded so the graph gets the room, fitted again on a fresh load
    nav.get_by_role("link", name=re.compile(r"Lineage$")).click()
    page.get_by_role("button", name=re.compile(r"Hide navigation$")).click()
    page.reload()
    assert set(zip(CHAIN, CHAIN[1:], strict=False)) <= drawn_edges(page)
    expect(page.get_by_text(re.compile(r"^Loading"))).to_have_count(0)
    zoom_at_rest(page)
    page.screenshot(path=str(artifacts_dir / "07_lineage_after_run.png"), clip=page.evaluate(GRAPH_BOX_JS))
