"""A real dagster-webserver process loads workspace.yaml and shows the four assets and their edges."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .dagster_dev_fixtures import graphql
from .servers import free_port, stop, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
QUERY = """
{ assetNodes { assetKey { path } dependencyKeys { path } groupName isPartitioned } }
"""


@pytest.fixture
def webserver(tmp_path):
    port = free_port()
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), TMPDIR=str(tmp_path), MEDIA_PIPELINE_HOME=str(tmp_path / "mp"))
    env.pop("XAI_API_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{base}/server_info", process, timeout=120, ready=lambda body: b"dagster" in body)
        yield base
    finally:
        stop(process)


def test_webserver_answers_graphql_with_the_four_assets_and_their_edges(webserver):
    for _ in range(60):  # the code location loads in the background after the server answers
        nodes = graphql(webserver, QUERY)["assetNodes"]
        if nodes:
            break
        time.sleep(1)
    edges = {n["assetKey"]["path"][0]: sorted(d["path"][0] for d in n["dependencyKeys"]) for n in nodes}
    assert edges == {
        "source_images": [],
        "hosted_images": ["source_images"],
        "generated_clips": ["hosted_images", "source_images"],
        "deliverable": ["generated_clips", "source_images"],
    }
    assert all(n["groupName"] == "media" and n["isPartitioned"] for n in nodes)
