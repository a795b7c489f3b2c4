"""Datasets and run inputs (MLflow's ``runs/log-inputs``): the datasets a run used, each with the
tags of that use (``mlflow.data.context``: ``train``, ``eval``), and the logged models it used. A
dataset is kept once per experiment, name and digest, however many runs use it (as MLflow keeps
it); logging the same dataset on a run again changes nothing, as in MLflow. The logged models a run
produced are its outputs (``RunOutput``, ``runs/outputs``); ``DatasetService.inputs`` returns both
sides for a run's page."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from package_api.plugin_api import DbSession, InvalidInput, committed
from plugin.tracking.models import (
    Dataset,
    LoggedModel,
    Run,
    RunDatasetInput,
    RunDatasetInputTag,
    RunModelInput,
    RunOutput,
)

#: The input tag MLflow sets on a dataset input to say what the run used it for.
CONTEXT_TAG = "mlflow.data.context"
#: MLflow's limits (``mlflow.utils.validation``).
MAX_DATASETS_PER_BATCH = 1000
MAX_NAME, MAX_DIGEST, MAX_SOURCE_TYPE = 500, 36, 36
MAX_SOURCE, MAX_SCHEMA, MAX_PROFILE = 65535, 1048575, 16777215
MAX_INPUT_TAG_KEY, MAX_INPUT_TAG_VALUE = 255, 500
CHUNK = 500  # ids per IN (...) query


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset as the client describes it (MLflow's ``Dataset`` message)."""

    name: str | None
    digest: str | None
    source_type: str | None
    source: str | None
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class DatasetUse:
    """One dataset a run used, with the tags of that use."""

    dataset: Dataset
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def context(self) -> str | None:
        """What the run used it for (``train``, ``eval``...), when the client said."""
        return self.tags.get(CONTEXT_TAG)


@dataclass(frozen=True)
class RunInputs:
    """What a run used and produced: its datasets (with their tags, in the order logged), the
    logged models it used, and the logged models it produced with the step of each."""

    datasets: list[DatasetUse] = field(default_factory=list)
    model_inputs: list[LoggedModel] = field(default_factory=list)
    model_outputs: list[tuple[LoggedModel, int]] = field(default_factory=list)


def _checked(spec: DatasetSpec) -> DatasetSpec:
    """``spec`` if it has what MLflow requires within MLflow's limits; raise ``InvalidInput``."""
    for name, value in (("name", spec.name), ("digest", spec.digest), ("source_type", spec.source_type), ("source", spec.source)):
        if value is None or value == "":
            raise InvalidInput(f"Dataset {name} cannot be None")
    limits = (
        ("name", spec.name, MAX_NAME),
        ("digest", spec.digest, MAX_DIGEST),
        ("source_type", spec.source_type, MAX_SOURCE_TYPE),
        ("source", spec.source, MAX_SOURCE),
        ("schema", spec.schema, MAX_SCHEMA),
        ("profile", spec.profile, MAX_PROFILE),
    )
    for name, value, limit in limits:
        if value is not None and len(value) > limit:
            raise InvalidInput(f"'{name}' exceeds the maximum length of {limit} characters")
    return spec


def _checked_tags(tags: Iterable[tuple[str | None, str | None]]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for key, value in tags:
        if not key:
            raise InvalidInput("Input tag key cannot be None")
        if value is None:
            raise InvalidInput("Input tag value cannot be None")
        if len(key) > MAX_INPUT_TAG_KEY:
            raise InvalidInput(f"'key' exceeds the maximum length of {MAX_INPUT_TAG_KEY} characters")
        if len(value) > MAX_INPUT_TAG_VALUE:
            raise InvalidInput(f"'value' exceeds the maximum length of {MAX_INPUT_TAG_VALUE} characters")
        checked[key] = value
    return checked


class DatasetService:
    def __init__(self, session: DbSession) -> None:
        self.session = session

    def log_inputs(
        self,
        run: Run,
        datasets: Sequence[tuple[DatasetSpec, Sequence[tuple[str | None, str | None]]]] = (),
        models: Sequence[LoggedModel] = (),
    ) -> None:
        """Record that ``run`` used ``datasets`` (each with the tags of its use) and the logged
        ``models`` (committed, all or nothing). A dataset already used by the run keeps its first
        tags, as in MLflow. Raise ``InvalidInput`` for a dataset or tag MLflow refuses."""
        if len(datasets) > MAX_DATASETS_PER_BATCH:
            raise InvalidInput(f"A batch logging request can contain at most {MAX_DATASETS_PER_BATCH} datasets")
        wanted: dict[tuple[str, str], tuple[DatasetSpec, dict[str, str]]] = {}
        for spec, tags in datasets:
            checked = _checked(spec)
            key = (str(checked.name), str(checked.digest))
            if key not in wanted:  # the first of a name and digest counts, as in MLflow
                wanted[key] = (checked, _checked_tags(tags))

        def work() -> None:
            for spec, tags in wanted.values():
                dataset = self._dataset(run.experiment_id, spec)
                used = self.session.scalar(
                    select(RunDatasetInput).where(RunDatasetInput.run_id == run.id, RunDatasetInput.dataset_id == dataset.id)
                )
                if used is None:
                    used = RunDatasetInput(run_id=run.id, dataset_id=dataset.id)
                    self.session.add(used)
                    self.session.flush()
                    self.session.add_all(RunDatasetInputTag(input_id=used.id, key=k, value=v) for k, v in tags.items())
            for model in models:
                known = self.session.scalar(
                    select(RunModelInput.id).where(
                        RunModelInput.run_id == run.id, RunModelInput.logged_model_id == model.id
                    )
                )
                if known is None:
                    self.session.add(RunModelInput(run_id=run.id, logged_model_id=model.id))
            self.session.flush()

        committed(self.session, work)

    def _dataset(self, experiment_id: int, spec: DatasetSpec) -> Dataset:
        """The experiment's dataset of this name and digest, added if new (its first description
        stays, as in MLflow)."""
        found = self.session.scalar(
            select(Dataset).where(
                Dataset.experiment_id == experiment_id, Dataset.name == spec.name, Dataset.digest == spec.digest
            )
        )
        if found is not None:
            return found
        dataset = Dataset(
            experiment_id=experiment_id,
            uuid=uuid.uuid4().hex,
            name=str(spec.name),
            digest=str(spec.digest),
            source_type=str(spec.source_type),
            source=str(spec.source),
            schema=spec.schema,
            profile=spec.profile,
        )
        self.session.add(dataset)
        self.session.flush()
        return dataset

    def inputs(self, run: Run) -> RunInputs:
        """What ``run`` used (datasets with their tags, logged models) and produced (logged models
        with their step), in the order they were logged."""
        return self.inputs_of([run.id])[run.id]

    def inputs_of(self, run_ids: Sequence[int]) -> dict[int, RunInputs]:
        """``inputs`` of many runs, loaded in bulk: every id of ``run_ids`` has an entry."""
        found = {i: RunInputs() for i in run_ids}
        for start in range(0, len(run_ids), CHUNK):
            chunk = run_ids[start : start + CHUNK]
            uses = list(
                self.session.scalars(
                    select(RunDatasetInput)
                    .options(joinedload(RunDatasetInput.dataset))
                    .where(RunDatasetInput.run_id.in_(chunk))
                    .order_by(RunDatasetInput.id)
                )
            )
            tags: dict[int, dict[str, str]] = {u.id: {} for u in uses}
            if uses:
                for tag in self.session.scalars(
                    select(RunDatasetInputTag)
                    .where(RunDatasetInputTag.input_id.in_(list(tags)))
                    .order_by(RunDatasetInputTag.id)
                ):
                    tags[tag.input_id][tag.key] = tag.value
            for use in uses:
                found[use.run_id].datasets.append(DatasetUse(use.dataset, tags[use.id]))
            for model_input in self.session.scalars(
                select(RunModelInput)
                .options(joinedload(RunModelInput.logged_model))
                .where(RunModelInput.run_id.in_(chunk))
                .order_by(RunModelInput.id)
            ):
                found[model_input.run_id].model_inputs.append(model_input.logged_model)
            for output in self.session.scalars(
                select(RunOutput)
                .options(joinedload(RunOutput.logged_model))
                .where(RunOutput.run_id.in_(chunk))
                .order_by(RunOutput.id)
            ):
                found[output.run_id].model_outputs.append((output.logged_model, output.step))
        return found

