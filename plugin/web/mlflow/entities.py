"""JSON shapes of MLflow's protos (``service.proto``, ``model_registry.proto``) as its server
writes them: ids and versions as strings, times as integer milliseconds, empty text as ``""``."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from plugin.mlflow_registry.model_versions import VersionView
from plugin.mlflow_registry.registered_models import ModelView
from plugin.mlflow_registry.version_rows import VersionRow
from plugin.tracking.artifacts import Entry, logged_model_root, run_root
from plugin.tracking.datasets import RunInputs
from plugin.tracking.experiments import ExperimentView
from plugin.tracking.logged_models import LoggedModelView, ModelMetric
from plugin.tracking.models import Dataset
from plugin.tracking.runs import MetricPoint, RunView
from plugin.tracking.times import milliseconds

#: Versions are registered synchronously: the client never has to poll.
READY = "READY"


def key_values(items: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in items.items()]


def experiment(view: ExperimentView) -> dict[str, Any]:
    row = view.experiment
    return {
        "experiment_id": str(row.iid),
        "name": row.name,
        "artifact_location": f"mlflow-artifacts:/{row.iid}",
        "lifecycle_stage": row.lifecycle_stage,
        "last_update_time": milliseconds(row.updated_at),
        "creation_time": milliseconds(row.created_at),
        "tags": key_values(view.tags),
    }


def metric(point: MetricPoint) -> dict[str, Any]:
    return {"key": point.key, "value": point.value, "timestamp": point.timestamp, "step": point.step}


def run_info(view: RunView) -> dict[str, Any]:
    run = view.run
    info: dict[str, Any] = {
        "run_id": run.uuid,
        "run_uuid": run.uuid,
        "run_name": run.name,
        "experiment_id": str(run.experiment.iid),
        "user_id": run.user_name,
        "status": run.status,
        "start_time": run.start_time,
        "artifact_uri": f"mlflow-artifacts:/{run_root(run)}",
        "lifecycle_stage": run.lifecycle_stage,
    }
    if run.end_time is not None:
        info["end_time"] = run.end_time
    return info


def run(view: RunView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "info": run_info(view),
        "data": {
            "metrics": [metric(p) for p in view.metrics.values()],
            "params": key_values(view.params),
            "tags": key_values(view.tags),
        },
        "inputs": run_inputs(view.inputs),
    }
    if view.outputs:
        body["outputs"] = {"model_outputs": [{"model_id": m, "step": s} for m, s in view.outputs]}
    return body


def run_inputs(inputs: RunInputs) -> dict[str, Any]:
    """``RunInputs``: the datasets with the tags of their use, the logged models used (empty
    lists left out, as MLflow's server writes them)."""
    body: dict[str, Any] = {}
    if inputs.datasets:
        body["dataset_inputs"] = [
            {"tags": key_values(use.tags), "dataset": dataset(use.dataset)} if use.tags else {"dataset": dataset(use.dataset)}
            for use in inputs.datasets
        ]
    if inputs.model_inputs:
        body["model_inputs"] = [{"model_id": m.uuid} for m in inputs.model_inputs]
    return body


def dataset(row: Dataset) -> dict[str, Any]:
    body = {"name": row.name, "digest": row.digest, "source_type": row.source_type, "source": row.source}
    if row.schema is not None:
        body["schema"] = row.schema
    if row.profile is not None:
        body["profile"] = row.profile
    return body


def model_version(view: VersionView) -> dict[str, Any]:
    return model_version_row(view.row())


def model_version_row(row: VersionRow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": row.name,
        "version": str(row.sequence),
        "creation_timestamp": row.created_at,
        "last_updated_timestamp": row.updated_at,
        "user_id": row.user,
        "current_stage": row.stage,
        "description": row.description,
        "source": row.source,
        "run_id": row.run_uuid,
        "status": READY,
        "tags": [{"key": k, "value": v} for k, v in row.tags],
        "run_link": row.run_link,
        # The semantic version names the version too: models:/<name>@1.4.0 resolves.
        "aliases": [row.semver, *row.aliases],
    }
    if row.logged_model is not None:
        body["model_id"] = row.logged_model
    return body


def registered_model(view: ModelView) -> dict[str, Any]:
    row = view.model
    return {
        "name": row.name,
        "creation_timestamp": row.created_at,
        "last_updated_timestamp": row.updated_at,
        "user_id": row.user,
        "description": row.description,
        "latest_versions": [model_version_row(v) for v in view.latest_versions],
        "tags": key_values(view.tags),
        "aliases": [{"alias": alias, "version": str(sequence)} for alias, sequence in view.aliases],
    }


def logged_model(view: LoggedModelView) -> dict[str, Any]:
    row = view.model
    return {
        "info": {
            "model_id": row.uuid,
            "experiment_id": str(row.experiment.iid),
            "name": row.name,
            "creation_timestamp_ms": milliseconds(row.created_at),
            "last_updated_timestamp_ms": milliseconds(row.updated_at),
            "artifact_uri": f"mlflow-artifacts:/{logged_model_root(row)}",
            "status": row.status,
            "model_type": row.model_type,
            "source_run_id": row.source_run.uuid if row.source_run else "",
            "status_message": "",
            "tags": key_values(view.tags),
        },
        "data": {"params": key_values(view.params), "metrics": [model_metric(m) for m in view.metrics]},
    }


def model_metric(point: ModelMetric) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": point.key,
        "value": point.value,
        "timestamp": point.timestamp,
        "step": point.step,
        "run_id": point.run_id,
    }
    if point.dataset_name is not None:
        body["dataset_name"] = point.dataset_name
    if point.dataset_digest is not None:
        body["dataset_digest"] = point.dataset_digest
    body["model_id"] = point.model_id
    return body


def files(entries: Iterable[Entry]) -> dict[str, Any]:
    """``{"files": [...]}``, or ``{}`` when there is nothing (as MLflow answers)."""
    listed = [
        {"path": e.path, "is_dir": True} if e.is_dir else {"path": e.path, "is_dir": False, "file_size": e.size}
        for e in entries
    ]
    return {"files": listed} if listed else {}
