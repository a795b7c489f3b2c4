"""What a run's page shows: what is logged on it (params, latest metrics and their histories, tags,
MLflow's own ``mlflow.*`` tags apart), its artifacts, the logged models it produced, its parent and
child runs (MLflow's ``mlflow.parentRunId`` tag), and the model versions registered from it; the
runs behind a model's versions; and several runs side by side, for the compare page."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from package_api.plugin_api import DbSession, InvalidInput, PackageFile, Page, Project, query_page
from plugin.mlflow_registry.cards import SYSTEM_TAG_PREFIX
from plugin.mlflow_registry.models import Registration
from plugin.registry.models import Model, ModelVersion
from plugin.tracking.artifacts import ArtifactService
from plugin.tracking.experiments import ACTIVE
from plugin.tracking.histories import histories
from plugin.tracking.models import LoggedModel, Run, RunOutput, RunTag
from plugin.tracking.runs import MetricPoint, RunService, RunView

#: The tag MLflow sets on a nested run (``mlflow.start_run(nested=True)``): its parent's run id.
PARENT_RUN_TAG = "mlflow.parentRunId"
#: The tag where MLflow keeps a run's description (Markdown; its UI's "Description").
NOTE_TAG = "mlflow.note.content"
#: How many runs the compare page puts side by side.
MAX_COMPARED = 10


@dataclass(frozen=True)
class RunCard:
    view: RunView
    tags: list[tuple[str, str]] = field(default_factory=list)  # the user's
    system_tags: list[tuple[str, str]] = field(default_factory=list)  # MLflow's own (mlflow.*)
    parent_id: str = ""  # what the run's mlflow.parentRunId says
    parent: Run | None = None  # that run, if this project has it
    children: list[Run] = field(default_factory=list)
    logged_models: list[LoggedModel] = field(default_factory=list)
    versions: list[ModelVersion] = field(default_factory=list)  # registered from it, or whose own run it is
    files: list[PackageFile] = field(default_factory=list)
    histories: dict[str, list[MetricPoint]] = field(default_factory=dict)

    @property
    def run(self) -> Run:
        return self.view.run

    @property
    def description(self) -> str:
        return self.view.tags.get(NOTE_TAG, "")

    @property
    def artifact_dirs(self) -> list[str]:
        """The top-level folders of the run's artifacts (``model`` of ``log_model``): what may be promoted."""
        return sorted({f.file_name.split("/", 1)[0] for f in self.files if "/" in f.file_name})


@dataclass(frozen=True)
class Comparison:
    views: list[RunView]
    params: list[str]  # every param key of any run, sorted
    metrics: list[str]
    histories: dict[int, dict[str, list[MetricPoint]]]

    def differs(self, key: str) -> bool:
        """Whether the runs do not all have the same value (or all lack) param ``key``."""
        return len({v.params.get(key) for v in self.views}) > 1


class RunCardService:
    def __init__(self, session: DbSession, artifacts: ArtifactService) -> None:
        self.session = session
        self.artifacts = artifacts
        self.runs = RunService(session)

    def for_run(self, project: Project, run: Run) -> RunCard:
        view = self.runs.view(run)
        parent_id = view.tags.get(PARENT_RUN_TAG, "")
        parent = None
        if parent_id:
            parent = self.session.scalar(select(Run).where(Run.uuid == parent_id, Run.project_id == project.id))
        children = self.session.scalars(
            select(Run)
            .join(RunTag, RunTag.run_id == Run.id)
            .where(Run.project_id == project.id, RunTag.key == PARENT_RUN_TAG, RunTag.value == run.uuid)
            .order_by(Run.start_time, Run.id)
        )
        produced = select(RunOutput.logged_model_id).where(RunOutput.run_id == run.id)
        logged_models = self.session.scalars(
            select(LoggedModel)
            .where(
                LoggedModel.project_id == project.id,
                LoggedModel.lifecycle_stage == ACTIVE,
                or_(LoggedModel.source_run_id == run.id, LoggedModel.id.in_(produced)),
            )
            .order_by(LoggedModel.created_at, LoggedModel.id)
        )
        return RunCard(
            view=view,
            tags=sorted((k, v) for k, v in view.tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)),
            system_tags=sorted((k, v) for k, v in view.tags.items() if k.startswith(SYSTEM_TAG_PREFIX)),
            parent_id=parent_id,
            parent=parent,
            children=list(children),
            logged_models=list(logged_models),
            versions=self.versions_of(run),
            files=self.artifacts.newest_files(project, self.artifacts.of_run(run)),
            histories=histories(self.session, [run])[run.id],
        )

    def versions_of(self, run: Run) -> list[ModelVersion]:
        """The versions registered from ``run`` and the version it is the own run of, oldest first."""
        registered = select(Registration.version_id).where(Registration.run_id == run.id)
        return list(
            self.session.scalars(
                select(ModelVersion)
                .where(or_(ModelVersion.id.in_(registered), ModelVersion.id == run.model_version_id))
                .order_by(ModelVersion.created_at, ModelVersion.id)
            )
        )

    def models(self, project: Project) -> list[Model]:
        """The project's models by name: what a run may be promoted to."""
        return list(self.session.scalars(select(Model).where(Model.project_id == project.id).order_by(Model.name)))

    def of_model(self, model: Model, page: int, per_page: int) -> tuple[Page, dict[int, list[ModelVersion]]]:
        """A page of the runs behind ``model``'s versions (newest first), and each run's versions."""
        behind = (
            select(Registration.run_id)
            .join(ModelVersion, ModelVersion.id == Registration.version_id)
            .where(ModelVersion.model_id == model.id)
        )
        found = query_page(self.session, select(Run).where(Run.id.in_(behind)), [Run.start_time.desc(), Run.id.desc()], page, per_page)
        versions: dict[int, list[ModelVersion]] = {run.id: [] for run in found.items}
        rows = self.session.execute(
            select(Registration.run_id, ModelVersion)
            .join(ModelVersion, ModelVersion.id == Registration.version_id)
            .where(ModelVersion.model_id == model.id, Registration.run_id.in_(list(versions)))
            .order_by(ModelVersion.id)
        )
        for run_id, version in rows:
            if run_id is not None:
                versions[run_id].append(version)
        return found, versions

    def compare(self, project: Project, run_ids: Sequence[str]) -> Comparison:
        """``run_ids`` side by side (each once, in the order given); raise ``InvalidInput`` for more
        than ``MAX_COMPARED`` runs and ``MissingResource`` for a run the project does not have."""
        unique = list(dict.fromkeys(r for r in run_ids if r))
        if len(unique) > MAX_COMPARED:
            raise InvalidInput(f"At most {MAX_COMPARED} runs can be compared at once; {len(unique)} were chosen.")
        runs = [self.runs.get(project, run_id) for run_id in unique]
        views = self.runs.views(runs)
        return Comparison(
            views=views,
            params=sorted({k for v in views for k in v.params}),
            metrics=sorted({k for v in views for k in v.metrics}),
            histories=histories(self.session, runs),
        )
