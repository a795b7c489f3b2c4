"""models are made on purpose: ml_models.origin, and the models uploads made are sorted out

Until this revision every generic package whose version was a semantic version made a model of its
name (``release-tarball/2.3.4`` became model ``release-tarball``), and deleting the package left the
empty model behind. From now on a model exists only when someone makes it (the REST API, the pages,
MLflow), and ``ml_models.origin`` records how: ``api``, ``page``, ``mlflow``.

This revision adds ``origin`` and sorts the models that exist already. The database never recorded
how a model came to be, so the revision infers it from what the model registry holds:

- **Made on purpose** (``origin = 'created'``): the audit trail has its ``model_created`` event, which
  the REST API, the pages and MLflow's ``registered-models/create`` recorded and an upload never did.
- **Kept** (``origin = 'upload'``): made by an upload, but used through the model registry since: it has
  a description; a tag or an alias; a version with a description or a tag, or made through the model
  registry (its ``model_version_created`` event names no file: REST, pages, MLflow's
  ``model-versions/create``), or registered by MLflow (a source, a logged model, a stage, a run link, a
  training run); another event of the model registry about it or its versions (``model_updated``,
  ``model_version_stage_updated``...); or MLflow data in its default experiment or on its versions'
  own runs (experiment tags or events, logged models, runs made through MLflow, params, metrics, tags
  beyond the run name, outputs, a run that another version was registered from).
- **Removed**, everything else: a model that uploads alone made and nobody touched through the model
  registry. Its version rows, their own runs (empty: only a run name) and its default experiment go;
  its packages and their files stay, as plain packages, judged by the package registry's rules. Making
  the model again (by someone who may delete those packages) makes them its versions again, numbered
  anew in upload order.

Events are matched to rows by target id, project and time (an event older than the row is about an
earlier row that had the same id). What an audit trail does not hold cannot be inferred: a model made
on purpose whose ``model_created`` event is gone, that holds nothing else of the model registry's, is
removed as if an upload had made it (its packages stay). A removed default experiment's MLflow id
may be given to a later experiment if it was the project's highest (experiment ids are the highest
plus one); no run was ever made in one through MLflow. The column has no default once the revision
is done: whoever makes a model says how. Downgrading drops the column; removed models do not come
back.

Revision ID: model_registry_0003
Revises: model_registry_0002
Create Date: 2026-12-03 10:00:00.000000
"""
from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = 'model_registry_0003'
down_revision = 'model_registry_0002'
branch_labels = None
depends_on = None

log = logging.getLogger("modelshelf.migrations")

ORIGINS = ("api", "page", "mlflow", "created", "upload")
#: Events the model registry records about a model's versions (the package pipeline's upload events,
#: ``model_version_created`` with a file, ``model_version_file_added``..., say nothing).
VERSION_EVENTS = ("model_version_updated", "model_version_tag_set", "model_version_tag_deleted", "model_version_stage_updated")
RUN_NAME_TAG = "mlflow.runName"
CHUNK = 500

# The tables as this revision knows them (the models in the code may change later).
meta = sa.MetaData()
models = sa.Table(
    "ml_models", meta, sa.Column("id", sa.Integer), sa.Column("project_id", sa.Integer), sa.Column("name", sa.String),
    sa.Column("description", sa.Text), sa.Column("created_at", sa.DateTime), sa.Column("origin", sa.String),
)
versions = sa.Table(
    "ml_model_versions", meta, sa.Column("id", sa.Integer), sa.Column("model_id", sa.Integer),
    sa.Column("package_id", sa.Integer), sa.Column("description", sa.Text),
)
packages = sa.Table("packages", meta, sa.Column("id", sa.Integer), sa.Column("created_at", sa.DateTime))
events = sa.Table(
    "audit_events", meta, sa.Column("project_id", sa.Integer), sa.Column("event_name", sa.String),
    sa.Column("target_type", sa.String), sa.Column("target_id", sa.Integer), sa.Column("details", sa.String),
    sa.Column("created_at", sa.DateTime),
)
model_tags = sa.Table("ml_model_tags", meta, sa.Column("model_id", sa.Integer))
aliases = sa.Table("ml_model_aliases", meta, sa.Column("model_id", sa.Integer))
version_tags = sa.Table("ml_model_version_tags", meta, sa.Column("version_id", sa.Integer))
registrations = sa.Table(
    "ml_model_version_registrations", meta, sa.Column("version_id", sa.Integer), sa.Column("stage", sa.String),
    sa.Column("source", sa.Text), sa.Column("run_id", sa.Integer), sa.Column("logged_model_id", sa.Integer),
    sa.Column("run_link", sa.Text),
)
experiments = sa.Table(
    "ml_experiments", meta, sa.Column("id", sa.Integer), sa.Column("project_id", sa.Integer),
    sa.Column("model_id", sa.Integer), sa.Column("created_at", sa.DateTime),
)
experiment_tags = sa.Table("ml_experiment_tags", meta, sa.Column("experiment_id", sa.Integer))
runs = sa.Table(
    "ml_runs", meta, sa.Column("id", sa.Integer), sa.Column("project_id", sa.Integer),
    sa.Column("experiment_id", sa.Integer), sa.Column("model_version_id", sa.Integer),
    sa.Column("created_at", sa.DateTime),
)
run_params = sa.Table("ml_run_params", meta, sa.Column("run_id", sa.Integer))
run_metrics = sa.Table("ml_run_metrics", meta, sa.Column("run_id", sa.Integer))
run_tags = sa.Table("ml_run_tags", meta, sa.Column("run_id", sa.Integer), sa.Column("key", sa.String))
run_outputs = sa.Table("ml_run_outputs", meta, sa.Column("run_id", sa.Integer))
logged_models = sa.Table(
    "ml_logged_models", meta, sa.Column("experiment_id", sa.Integer), sa.Column("source_run_id", sa.Integer),
)


def upgrade() -> None:
    # A server default fills the existing rows; each is then given its origin below.
    op.add_column(
        'ml_models',
        sa.Column(
            'origin', sa.Enum(*ORIGINS, name='modelorigin', native_enum=False, length=16), nullable=False,
            server_default='created',
        ),
    )
    bind = op.get_bind()
    every = set(bind.scalars(sa.select(models.c.id)))
    created = _made_on_purpose(bind)
    kept = created | _used_through_the_registry(bind)
    doomed = sorted(every - kept)
    _update(bind, models, models.c.id, sorted(every & created), origin="created")
    _update(bind, models, models.c.id, sorted((every & kept) - created), origin="upload")
    names = [f"{project}:{name}" for project, name in _names(bind, doomed)]
    _remove(bind, doomed)
    # A warning, so that `modelshelf db upgrade` shows it without any logging set up.
    (log.warning if doomed else log.info)(
        "model_registry_0003: %d models made on purpose, %d made by uploads and kept for what the model "
        "registry holds about them, %d made by uploads alone removed (their packages stay): %s",
        len(every & created), len((every & kept) - created), len(doomed),
        ", ".join(names[:50]) + (" ..." if len(names) > 50 else "") or "none",
    )
    # Whoever makes a model says how: no default from here on. SQLite copies the table to forget one
    # (foreign keys are not enforced while revisions run: package_api.ops.migrate.upgrade).
    with _keeping_the_id_counter(bind), op.batch_alter_table(
        'ml_models', table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.alter_column('origin', server_default=None)


def downgrade() -> None:
    bind = op.get_bind()
    with _keeping_the_id_counter(bind), op.batch_alter_table(
        'ml_models', table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_column('origin')


@contextlib.contextmanager
def _keeping_the_id_counter(bind: sa.Connection) -> Iterator[None]:
    """On SQLite, give the copy of ``ml_models`` the original's ``AUTOINCREMENT`` counter: it may be
    past every id the table holds now (ids of removed models, or named by the audit trail), and a
    copy would count on from the highest id left, handing removed models' ids out again."""
    sqlite = bind.dialect.name == "sqlite"
    counter = bind.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'ml_models'").scalar() if sqlite else None
    yield
    if counter is not None:
        bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = 'ml_models'")
        highest = bind.exec_driver_sql("SELECT MAX(id) FROM ml_models").scalar() or 0
        bind.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES ('ml_models', ?)", (max(counter, highest),))


# -- what the database tells -----------------------------------------------------------------------


def _made_on_purpose(bind: sa.Connection) -> set[int]:
    """Models with their ``model_created`` event."""
    query = sa.select(models.c.id).join(events, _event_of(models.c, "Model")).where(events.c.event_name == "model_created")
    return set(bind.scalars(query))


def _event_of(
    target: sa.ColumnCollection[str, Any], target_type: str, target_id: sa.ColumnElement[Any] | None = None
) -> sa.ColumnElement[bool]:
    """An audit event about the row ``target`` (``target_id``: the id the event names, default the
    row's): same project, same id, and not older than the row."""
    return sa.and_(
        events.c.target_type == target_type,
        events.c.target_id == (target.id if target_id is None else target_id),
        events.c.project_id == target.project_id,
        events.c.created_at >= target.created_at,
    )


def _used_through_the_registry(bind: sa.Connection) -> set[int]:
    """Models with anything the model registry holds beyond the rows an upload made."""
    v, r = versions.c, registrations.c
    found: set[int] = set(bind.scalars(sa.select(models.c.id).where(models.c.description != "")))
    found |= set(bind.scalars(sa.select(model_tags.c.model_id)))
    found |= set(bind.scalars(sa.select(aliases.c.model_id)))
    found |= set(bind.scalars(sa.select(v.model_id).where(v.description != "")))
    found |= set(bind.scalars(sa.select(v.model_id).join(version_tags, version_tags.c.version_id == v.id)))
    # Any model_* event about the model but its creation (kept apart for the origin) and deletion.
    model_events = sa.select(models.c.id).join(events, _event_of(models.c, "Model")).where(
        events.c.event_name.like("model\\_%", escape="\\"),
        events.c.event_name.not_in(("model_created", "model_deleted")),
        events.c.event_name.not_like("model\\_version\\_%", escape="\\"),
    )
    found |= set(bind.scalars(model_events))
    # Versions: the registry's events, and a model_version_created without a file (made, not uploaded).
    version_row = sa.select(v.model_id, v.package_id, packages.c.created_at, models.c.project_id).join(
        packages, packages.c.id == v.package_id
    ).join(models, models.c.id == v.model_id).subquery()
    version_events = sa.select(version_row.c.model_id, events.c.event_name, events.c.details).join(
        events, _event_of(version_row.c, "Package", version_row.c.package_id)
    ).where(events.c.event_name.in_((*VERSION_EVENTS, "model_version_created")))
    for model_id, event_name, details in bind.execute(version_events):
        if event_name != "model_version_created" or "file_name" not in _details(details):
            found.add(model_id)
    # Registrations that MLflow made (beyond the version's own run, which the upload made).
    own = sa.select(runs.c.id).where(runs.c.id == r.run_id, runs.c.model_version_id == r.version_id).exists()
    registered = sa.select(v.model_id).join(registrations, r.version_id == v.id).where(
        sa.or_(
            r.source != "", r.logged_model_id.is_not(None), r.stage != "None", r.run_link != "",
            sa.and_(r.run_id.is_not(None), ~own),
        )
    )
    found |= set(bind.scalars(registered))
    found |= _mlflow_data(bind)
    return found


def _mlflow_data(bind: sa.Connection) -> set[int]:
    """Models whose default experiment, or whose versions' own runs, hold what MLflow made."""
    e = experiments.c
    of_models = e.model_id.is_not(None)
    found: set[int] = set(bind.scalars(
        sa.select(e.model_id).join(experiment_tags, experiment_tags.c.experiment_id == e.id).where(of_models)
    ))
    found |= set(bind.scalars(sa.select(e.model_id).join(logged_models, logged_models.c.experiment_id == e.id).where(of_models)))
    found |= set(bind.scalars(sa.select(e.model_id).join(events, _event_of(e, "Experiment")).where(of_models)))
    # The runs of a model: those of its default experiment, and its versions' own runs.
    in_experiment = sa.select(runs.c.id.label("run_id"), e.model_id.label("model_id")).join(
        experiments, e.id == runs.c.experiment_id
    ).where(e.model_id.is_not(None))
    own = sa.select(runs.c.id.label("run_id"), versions.c.model_id.label("model_id")).join(
        versions, versions.c.id == runs.c.model_version_id
    )
    model_runs = sa.union(in_experiment, own).subquery()
    run_id, model_id = model_runs.c.run_id, model_runs.c.model_id
    holding = [
        sa.select(run_params.c.run_id).where(run_params.c.run_id == run_id).exists(),
        sa.select(run_metrics.c.run_id).where(run_metrics.c.run_id == run_id).exists(),
        sa.select(run_tags.c.run_id).where(run_tags.c.run_id == run_id, run_tags.c.key != RUN_NAME_TAG).exists(),
        sa.select(run_outputs.c.run_id).where(run_outputs.c.run_id == run_id).exists(),
        sa.select(logged_models.c.source_run_id).where(logged_models.c.source_run_id == run_id).exists(),
        # Another version registered from it (a run's own version's registration names it anyway).
        sa.select(registrations.c.run_id).where(
            registrations.c.run_id == run_id,
            sa.not_(sa.select(runs.c.id).where(
                runs.c.id == run_id, runs.c.model_version_id == registrations.c.version_id
            ).exists()),
        ).exists(),
        # Made through MLflow (runs/create records run_created; a version's own run records nothing).
        sa.select(runs.c.id).join(events, _event_of(runs.c, "Run")).where(
            runs.c.id == run_id, events.c.event_name == "run_created"
        ).exists(),
    ]
    found |= set(bind.scalars(sa.select(model_id).where(sa.or_(*holding))))
    return found


def _details(text: str | None) -> dict[str, object]:
    try:
        loaded = json.loads(text or "{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _names(bind: sa.Connection, model_ids: Sequence[int]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for chunk in _chunks(model_ids):
        found += [(p, n) for p, n in bind.execute(sa.select(models.c.project_id, models.c.name).where(models.c.id.in_(chunk)))]
    return sorted(found)


# -- what goes -------------------------------------------------------------------------------------


def _remove(bind: sa.Connection, model_ids: Sequence[int]) -> None:
    """Remove the models, their version rows, the versions' own runs and the default experiments,
    children first (whether or not the database enforces its foreign keys). Packages stay."""
    version_ids = _ids(bind, versions.c.id, versions.c.model_id, model_ids)
    experiment_ids = _ids(bind, experiments.c.id, experiments.c.model_id, model_ids)
    run_ids = sorted(
        set(_ids(bind, runs.c.id, runs.c.model_version_id, version_ids))
        | set(_ids(bind, runs.c.id, runs.c.experiment_id, experiment_ids))
    )
    for table in (run_tags, run_params, run_metrics, run_outputs):
        _delete(bind, table, table.c.run_id, run_ids)
    _delete(bind, registrations, registrations.c.version_id, version_ids)
    _delete(bind, runs, runs.c.id, run_ids)
    _delete(bind, experiment_tags, experiment_tags.c.experiment_id, experiment_ids)
    _delete(bind, experiments, experiments.c.id, experiment_ids)
    _delete(bind, version_tags, version_tags.c.version_id, version_ids)
    _delete(bind, versions, versions.c.id, version_ids)
    _delete(bind, aliases, aliases.c.model_id, model_ids)
    _delete(bind, model_tags, model_tags.c.model_id, model_ids)
    _delete(bind, models, models.c.id, model_ids)


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _ids(bind: sa.Connection, column: sa.Column[Any], where: sa.Column[Any], values: Iterable[int]) -> list[int]:
    found: set[int] = set()
    for chunk in _chunks(sorted(values)):
        found |= set(bind.scalars(sa.select(column).where(where.in_(chunk))))
    return sorted(found)


def _delete(bind: sa.Connection, table: sa.Table, column: sa.Column[Any], values: Sequence[int]) -> None:
    for chunk in _chunks(values):
        bind.execute(sa.delete(table).where(column.in_(chunk)))


def _update(bind: sa.Connection, table: sa.Table, column: sa.Column[Any], values: Sequence[int], **changes: object) -> None:
    for chunk in _chunks(values):
        bind.execute(sa.update(table).where(column.in_(chunk)).values(**changes))
