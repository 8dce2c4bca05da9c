"""Approving from the UI: under a real ``dagster dev`` (webserver and daemon), a campaign drafted by
``media-pipeline run`` is approved by launching the ``approve_deliverable`` job for its partition with the
Launchpad's default config, through the same GraphQL mutation the Launchpad's button sends."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from media_pipeline.resources.publish import current_deliverable, draft_set
from media_pipeline.resources.store import LocalMediaStore

from .builders import local_cli_env, write_campaign

LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
  ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
STATUS = """query Status($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""
MATERIALIZED = """query Materialized($partition: String!) { assetOrError(assetKey: {path: ["deliverable"]}) {
  ... on Asset { assetMaterializations(partitions: [$partition], limit: 1) { runId
    metadataEntries { label ... on TextMetadataEntry { text } } } } } }"""


def _graphql(url: str, query: str, **variables) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def _wait_for_run(url: str, run_id: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _graphql(url, STATUS, id=run_id)["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(1)
    raise AssertionError(f"run {run_id} still {status} after {timeout} s")


@pytest.mark.slow
def test_the_approval_job_launched_as_the_launchpad_does_publishes_the_draft(dagster_dev, tmp_path):
    write_campaign(dagster_dev.drops, "sku-ui", shots=1, manifest="resolution: 480p\nduration: 1\nreview: required\n")
    env = dict(local_cli_env(dagster_dev.pipeline_home), DAGSTER_HOME=str(tmp_path / "dagster_home"))
    env["TMPDIR"] = str(tmp_path / "tmp")
    drafted = subprocess.run(
        [sys.executable, "-m", "media_pipeline.cli", "run", "sku-ui", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert drafted.returncode == 0, drafted.stderr[-2000:]
    store = LocalMediaStore(root=os.path.join(dagster_dev.pipeline_home, "store"))
    draft = draft_set(store, "sku-ui")
    assert draft is not None and current_deliverable(store, "sku-ui") is None

    params = {
        "selector": {
            "repositoryLocationName": "media_pipeline",
            "repositoryName": "__repository__",
            "jobName": "approve_deliverable",
        },
        "runConfigData": {},  # the Launchpad's default: the draft awaiting approval now
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "sku-ui"}]},
    }
    launched = _graphql(dagster_dev.url, LAUNCH, params=params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert _wait_for_run(dagster_dev.url, run_id) == "SUCCESS"

    assert current_deliverable(store, "sku-ui").version == draft.deliverable.version
    assert draft_set(store, "sku-ui") is None
    (latest,) = _graphql(dagster_dev.url, MATERIALIZED, partition="sku-ui")["assetOrError"]["assetMaterializations"]
    entries = {e["label"]: e.get("text") for e in latest["metadataEntries"]}
    assert latest["runId"] == run_id and entries["review"] == "approved"
