"""deploy/: every instance file that needs no cluster opened as a real Dagster instance (PostgreSQL from the
fixture, and the same settings on SQLite for one machine), with its queue, pool, monitoring and retry settings
read back from the instance; the Kubernetes code location loaded with its executor; the Helm values, the compose
file and the Dockerfile held to the same settings; every variable they read documented in the README.
"""

import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, Definitions
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._serdes import serialize_value
from dagster_postgres import PostgresRunStorage, PostgresScheduleStorage

from media_pipeline.resources.pool_storage import PoolSafePostgresEventLogStorage

from .dagster_stack import DEPLOY, ROOT

PRODUCTION = yaml.safe_load((DEPLOY / "dagster.yaml").read_text(encoding="utf-8"))
HELM = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text(encoding="utf-8"))
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text(encoding="utf-8"))
SECRETS = ("XAI_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DAGSTER_PG_PASSWORD")


def _open(home: Path, config: dict) -> DagsterInstance:
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return DagsterInstance.from_config(str(home))


def _assert_production_settings(instance: DagsterInstance) -> None:
    """The queue, pool, monitoring and retry settings of deploy/dagster.yaml, as the instance reports them."""
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    queue = instance.get_concurrency_config().run_queue_config
    assert queue.max_concurrent_runs == 8
    assert {(limit["key"], limit["limit"]) for limit in queue.tag_concurrency_limits} == {
        ("dagster/partition", 1),
        ("dagster/backfill", 4),
    }
    pools = instance.get_concurrency_config().pool_config
    assert (pools.default_pool_limit, pools.op_granularity_run_buffer, pools.pool_granularity.value) == (2, 1, "op")
    assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 30
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert instance.run_retries_retry_on_asset_or_op_failure is False
    # the pool works on this storage: a slot for xai_video is claimed at the default limit, and released
    assert instance.event_log_storage.supports_global_concurrency_limits
    instance.event_log_storage.initialize_concurrency_limit_to_default("xai_video")
    assert instance.event_log_storage.get_concurrency_info("xai_video").slot_count == 2


def test_the_production_instance_opens_on_postgresql_with_credentials_from_the_environment(postgres_env, tmp_path):
    with _open(tmp_path / "home", PRODUCTION) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        # Dagster's PostgreSQL event log with the pool claim that gives one slot to one step
        assert isinstance(instance.event_log_storage, PoolSafePostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        _assert_production_settings(instance)
        instance.add_dynamic_partitions("campaigns", ["spring"])
        assert instance.get_dynamic_partitions("campaigns") == ["spring"]
        # what other processes are handed (run workers, step pods) names the variable, never its value
        ref = serialize_value(instance.get_ref())
        assert "DAGSTER_PG_PASSWORD" in ref and postgres_env["DAGSTER_PG_PASSWORD"] not in ref


def test_the_same_settings_on_one_machine_without_postgresql(tmp_path):
    storages = ("run_storage", "event_log_storage", "schedule_storage")
    local = {key: value for key, value in PRODUCTION.items() if key not in storages}
    with _open(tmp_path / "home", local) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        _assert_production_settings(instance)


def test_the_production_instance_refuses_to_open_without_its_database_password(postgres_env, tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    with pytest.raises(Exception, match="DAGSTER_PG_PASSWORD"):
        _open(tmp_path / "home", PRODUCTION)


def test_the_kubernetes_location_runs_each_step_in_its_own_pod_and_gives_the_deliverable_more_cpu():
    spec = importlib.util.spec_from_file_location("k8s_location", DEPLOY / "k8s_location.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    Definitions.validate_loadable(module.defs)
    job = module.defs.resolve_implicit_global_asset_job_def()  # the job of every run
    config = job.executor_def.config_schema.resolve_config({}).value["config"]
    assert set(config["per_step_k8s_config"]) <= {node.name for node in job.nodes}

    def cpu(pod: dict) -> float:
        value = pod["container_config"]["resources"]["requests"]["cpu"]
        return float(value[:-1]) / 1000 if value.endswith("m") else float(value)

    assert cpu(config["per_step_k8s_config"]["deliverable"]) >= 4 * cpu(config["step_k8s_config"])
    assert job.executor_def.name == "media_pipeline_k8s"


def test_the_helm_values_hold_the_instance_to_the_same_queue_pool_and_retry_settings():
    daemon = HELM["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert HELM["additionalInstanceConfig"]["concurrency"] == PRODUCTION["concurrency"]
    retries = daemon["runRetries"]
    assert (retries["maxRetries"], retries["retryOnAssetOrOpFailure"]) == (2, False)
    assert daemon["runMonitoring"]["maxResumeRunAttempts"] > 0  # K8sRunLauncher can resume a lost run pod
    (location,) = HELM["dagster-user-deployments"]["deployments"]
    assert location["codeServerArgs"][-1] == "/opt/media_pipeline/deploy/k8s_location.py"
    secrets = [s["name"] for s in location["envSecrets"]]
    assert secrets == [s["name"] for s in HELM["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]]
    assert not {e["name"] for e in location["env"]} & set(SECRETS)  # secrets come from k8s secrets only


def test_the_compose_file_and_image_serve_the_instance_file_and_the_workspace():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert re.search(r"apt-get install .*ffmpeg", dockerfile) and "USER dagster" in dockerfile
    assert "deploy/dagster.yaml deploy/workspace.yaml ${DAGSTER_HOME}/" in dockerfile
    assert "deploy/k8s_location.py" in dockerfile
    command = re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)
    (server,) = yaml.safe_load((DEPLOY / "workspace.yaml").read_text(encoding="utf-8"))["load_from"]
    assert f'"-p", "{server["grpc_server"]["port"]}"' in command and "code-server" in command
    services = COMPOSE["services"]
    assert server["grpc_server"]["host"] in services and {"postgres", "webserver", "daemon"} <= set(services)
    for name in ("code", "webserver", "daemon"):
        env = services[name]["environment"]
        assert {f"DAGSTER_PG_{key}" for key in ("HOST", "PORT", "USERNAME", "PASSWORD", "DB")} <= set(env)
    # pipeline secrets only where pipeline code runs
    assert services["code"]["env_file"] == [".env"]
    assert not any("env_file" in services[name] for name in ("webserver", "daemon"))
    assert ".env" in (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()


def _variables_read_by_deploy_files() -> set[str]:
    names = set(re.findall(r"\{env: (\w+)\}", (DEPLOY / "dagster.yaml").read_text(encoding="utf-8")))
    names |= set(re.findall(r"\$\{(\w+)", (DEPLOY / "docker-compose.yaml").read_text(encoding="utf-8")))
    names |= set(re.findall(r"^#? ?(\w+)=", (DEPLOY / "env.example").read_text(encoding="utf-8"), re.M))
    names |= {e["name"] for e in HELM["dagster-user-deployments"]["deployments"][0]["env"]}
    return names


def test_every_variable_and_secret_of_the_deploy_files_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Running in production") :]
    section = section[: section.find("\n## ", 5) if "\n## " in section[5:] else None]
    names = _variables_read_by_deploy_files() | set(SECRETS)
    assert len(names) > 15
    assert not {name for name in names if f"`{name}`" not in section}
    for secret in ("dagster-postgresql-secret", "media-pipeline-xai", "media-pipeline-aws"):
        assert secret in section
