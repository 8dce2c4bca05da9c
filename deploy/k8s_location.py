"""The code location as Kubernetes runs it: the project's own definitions, unchanged, executed by dagster-k8s's
``k8s_job_executor`` so every step of a run is its own pod (the Helm chart's K8sRunLauncher starts the run pod).

Steps are sized for what they do: ``source_images``, ``hosted_images`` and ``generated_clips`` mostly wait on S3 and
the xAI API and get a small pod; ``deliverable`` runs ffmpeg (conform, transitions, renditions, loudness) and gets
several cores. A step pod keeps nothing it needs on its disk: records, journals and clips are in the S3 store, so
a step that lands on another node resumes from the journal. Load it with
``dagster code-server start -f deploy/k8s_location.py`` (the Helm values do).
"""

from __future__ import annotations

from typing import Any

from dagster_k8s import k8s_job_executor

from media_pipeline.definitions import build_defs


def _pod(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    """A step's container resources, with an emptyDir for its temp files (ffmpeg's intermediates)."""
    return {
        "container_config": {
            "resources": {
                "requests": {"cpu": cpu, "memory": memory},
                "limits": {"cpu": cpu_limit, "memory": memory_limit},
            },
            "env": [{"name": "TMPDIR", "value": "/scratch"}],
            "volume_mounts": [{"name": "scratch", "mount_path": "/scratch"}],
        },
        "pod_spec_config": {"volumes": [{"name": "scratch", "empty_dir": {}}]},
    }


STEP_POD = _pod("250m", "512Mi", "1", "1Gi")
DELIVERABLE_POD = _pod("2", "2Gi", "4", "4Gi")

executor = k8s_job_executor.configured(
    {
        "step_k8s_config": STEP_POD,
        "per_step_k8s_config": {"deliverable": DELIVERABLE_POD},
        "enable_owner_references": True,
    },
    name="media_pipeline_k8s",
)

defs = build_defs(executor=executor)
