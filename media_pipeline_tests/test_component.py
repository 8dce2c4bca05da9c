"""MediaPipelineComponent in a ``dg`` project laid out as ``create-dagster project`` lays it out (written here by
hand: create-dagster needs uv and the network). ``dg`` runs from this venv with the project's ``src`` on the path,
as an installed project would be: it lists the component, scaffolds two pipelines, checks and lists their
definitions; the same project loaded in this process keeps each pipeline to its own drops and the xAI key out of
everything Dagster serializes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster import DefaultSensorStatus, Definitions, SensorResult, build_sensor_context, load_from_defs_folder
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from .builders import SMALL_MANIFEST, write_campaign

DG = Path(sys.executable).parent / "dg"
PACKAGE = "pipelines_project"
STAGES = ["deliverable", "generated_clips", "hosted_images", "source_images"]
BRANDS = ("brand_a", "brand_b")
SECRET = "xai-component-test-key-0123456789"

PYPROJECT = f"""\
[project]
name = "{PACKAGE}"
requires-python = ">=3.11,<3.14"
version = "0.1.0"
dependencies = ["media_pipeline"]

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "{PACKAGE}"
"""

DEFINITIONS = """\
from pathlib import Path

from dagster import definitions, load_from_defs_folder


@definitions
def defs():
    return load_from_defs_folder(path_within_project=Path(__file__).parent)
"""


def _project(root: Path) -> Path:
    """The files ``create-dagster project`` writes that ``dg`` reads."""
    package = root / "src" / PACKAGE
    (package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "defs" / "__init__.py").write_text("", encoding="utf-8")
    (package / "definitions.py").write_text(DEFINITIONS, encoding="utf-8")
    return root


def _dg(project: Path, *args: str) -> str:
    env = {
        **os.environ,
        "PATH": f"{DG.parent}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(DG.parent.parent),
        "PYTHONPATH": str(project / "src"),
        "XAI_API_KEY": SECRET,
        "NO_COLOR": "1",
    }
    done = subprocess.run([str(DG), *args], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"dg {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _defs_yaml(project: Path, name: str) -> Path:
    return project / "src" / PACKAGE / "defs" / name / "defs.yaml"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two pipelines scaffolded with ``dg``; brand_b switched to the xAI generator the way a user edits defs.yaml."""
    root = _project(tmp_path_factory.mktemp("dg") / "pipelines-project")
    listed = json.loads(_dg(root, "list", "components", "--json"))
    assert "media_pipeline.MediaPipelineComponent" in {item["key"] for item in listed["items"]}
    for name in BRANDS:
        _dg(root, "scaffold", "defs", "media_pipeline.MediaPipelineComponent", name)
    path = _defs_yaml(root, "brand_b")
    component = yaml.safe_load(path.read_text(encoding="utf-8"))
    component["attributes"].update(generator="xai", xai_api_host="127.0.0.1:1", xai_use_insecure_channel=True)
    component["attributes"]["retry_sensor_default_status"] = "stopped"
    path.write_text(yaml.safe_dump(component, sort_keys=False), encoding="utf-8")
    return root


@pytest.mark.slow
def test_dg_scaffolds_checks_and_lists_two_prefixed_pipelines(project):
    scaffolded = yaml.safe_load(_defs_yaml(project, "brand_a").read_text(encoding="utf-8"))
    assert scaffolded == {
        "type": "media_pipeline.MediaPipelineComponent",
        "attributes": {
            "name": "brand_a",
            "drops": "data/brand_a/drops",
            "store": "data/brand_a/store",
            "generator": "local",
        },
    }
    assert "All definitions loaded successfully" in _dg(project, "check", "defs")
    listed = json.loads(_dg(project, "list", "defs", "--json"))
    assert sorted(a["asset_key"] for a in listed["assets"]) == [
        f"{b}/{s}" for b in ("brand_a", "brand_b") for s in STAGES
    ]
    assert {a["group_name"] for a in listed["assets"] if a["asset_key"].startswith("brand_a/")} == {"brand_a"}
    # every materializing run is Dagster's __ASSET_JOB, which dg leaves out; each pipeline's own job only approves
    assert sorted(j["name"] for j in listed["jobs"]) == [f"{b}_approve_deliverable" for b in ("brand_a", "brand_b")]
    sensors = {s["name"] for s in listed["sensors"]}
    assert sensors == {
        f"{b}_{s}" for b in BRANDS for s in ("image_drop_sensor", "xai_batch_sensor", "missed_retry_sensor")
    }
    assert len(listed["schedules"]) == 2 and len(listed["asset_checks"]) == 10
    assert SECRET not in json.dumps(listed)


@pytest.mark.slow
def test_the_projects_pipelines_see_only_their_own_drops_and_never_hold_the_key(
    project, instance, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XAI_API_KEY", SECRET)
    monkeypatch.syspath_prepend(str(project / "src"))
    defs = load_from_defs_folder(project_root=project)
    Definitions.validate_loadable(defs)
    for name, campaign in (("brand_a", "spring"), ("brand_b", "autumn")):
        folder = write_campaign(project / "data" / name / "drops", campaign, shots=1, manifest=SMALL_MANIFEST)
        for path in folder.iterdir():
            os.utime(path, (time.time() - 120,) * 2)
    statuses = {name: defs.get_sensor_def(f"{name}_missed_retry_sensor").default_status for name in BRANDS}
    assert statuses == {"brand_a": DefaultSensorStatus.RUNNING, "brand_b": DefaultSensorStatus.STOPPED}
    resources = defs.get_repository_def().get_top_level_resources()
    for name, campaign in (("brand_a", "spring"), ("brand_b", "autumn")):
        with build_sensor_context(instance=instance, resources=resources) as context:
            result = defs.get_sensor_def(f"{name}_image_drop_sensor")(context)
        assert isinstance(result, SensorResult)
        assert [r.partition_key for r in result.run_requests] == [campaign]
        (added,) = result.dynamic_partitions_requests
        assert (added.partitions_def_name, list(added.partition_keys)) == (f"{name}_campaigns", [campaign])
    # the generator names the variable; the key is read when a run starts, so no snapshot holds it
    snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "XAI_API_KEY" in snapshot and SECRET not in snapshot
