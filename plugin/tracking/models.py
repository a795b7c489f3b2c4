"""Tracking tables: experiments, runs, their params, metrics (every logged point: the history),
the latest point of each metric, tags, dataset and model inputs and model outputs, datasets, and logged models with
their metrics.

Identifiers are MLflow's: an experiment's ``iid`` (per project) is its ``experiment_id``, a run's
``uuid`` (32 hex digits) its ``run_id``, a logged model's ``uuid`` (``m-`` and 32 hex digits) its
``model_id``. A run's ``id`` names its artifact package (``candidate_<id>``): unlike a per-project
number it needs no race to allocate, and versions made together each make a run. Times that MLflow sends (``start_time``, metric ``timestamp``) are kept as it sends
them, in milliseconds.
"""
from __future__ import annotations

import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from package_api.plugin_api import IDS_NEVER_REUSED, CiJob, DbModel, User, utcnow
from plugin.registry.models import Model, ModelVersion


class KeyValue:
    """A key and its value for one owner (tags and params: one row per owner and key); each table
    adds its owner column and the unique constraint on (owner, key)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str] = mapped_column(Text, default="")


class Experiment(DbModel):
    __tablename__ = "ml_experiments"
    __table_args__ = (
        UniqueConstraint("project_id", "iid", name="uq_ml_experiments_project_iid"),
        UniqueConstraint("project_id", "name", name="uq_ml_experiments_project_name"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    iid: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(500))
    #: The model whose default experiment this is (``[model]<name>``).
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("ml_models.id", ondelete="SET NULL"), nullable=True, index=True
    )
    lifecycle_stage: Mapped[str] = mapped_column(String(32), default="active")
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    model: Mapped[Model | None] = relationship()
    creator: Mapped[User | None] = relationship()


class ExperimentTag(KeyValue, DbModel):
    __tablename__ = "ml_experiment_tags"
    __table_args__ = (UniqueConstraint("experiment_id", "key", name="uq_ml_experiment_tags_key"), IDS_NEVER_REUSED)

    experiment_id: Mapped[int] = mapped_column(ForeignKey("ml_experiments.id", ondelete="CASCADE"), index=True)


class Run(DbModel):
    __tablename__ = "ml_runs"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("ml_experiments.id", ondelete="CASCADE"), index=True)
    uuid: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(250), default="")
    #: What the client sent as ``user_id`` (MLflow's user name); the creator is the authenticated user.
    user_name: Mapped[str] = mapped_column(String(255), default="")
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="RUNNING")
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lifecycle_stage: Mapped[str] = mapped_column(String(32), default="active")
    #: Set on a version's own run: its artifacts are the version's package.
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("ml_model_versions.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    #: The registered CI job that ran it (the ``gitlab.CI_JOB_ID`` tag, or the job token that made it).
    ci_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("ci_jobs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)

    experiment: Mapped[Experiment] = relationship()
    creator: Mapped[User | None] = relationship()
    model_version: Mapped[ModelVersion | None] = relationship()
    ci_job: Mapped[CiJob | None] = relationship()


class RunParam(KeyValue, DbModel):
    __tablename__ = "ml_run_params"
    __table_args__ = (UniqueConstraint("run_id", "key", name="uq_ml_run_params_key"), IDS_NEVER_REUSED)

    run_id: Mapped[int] = mapped_column(ForeignKey("ml_runs.id", ondelete="CASCADE"), index=True)


class RunMetric(DbModel):
    """One logged point; the latest point of a key (step, then timestamp) is the run's value."""

    __tablename__ = "ml_run_metrics"
    __table_args__ = (Index("ix_ml_run_metrics_run_key", "run_id", "key"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ml_runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    #: SQLite stores NaN as NULL: NaN is kept as ``is_nan`` with value 0.
    value: Mapped[float] = mapped_column(Float)
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger, default=0)


class RunLatestMetric(DbModel):
    """The latest point of each metric of a run (MLflow's ``latest_metrics``): the highest step, then
    the latest timestamp, then the highest value as stored (NaN as 0), of equals the first logged.
    Kept as points are logged; run searches filter and sort on it and the runs table shows it."""

    __tablename__ = "ml_run_latest_metrics"
    __table_args__ = (Index("ix_ml_run_latest_metrics_key_value", "key", "value"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("ml_runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    #: NaN is kept as ``is_nan`` with value 0, as in ``ml_run_metrics``.
    value: Mapped[float] = mapped_column(Float)
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger, default=0)


class RunTag(KeyValue, DbModel):
    __tablename__ = "ml_run_tags"
    __table_args__ = (UniqueConstraint("run_id", "key", name="uq_ml_run_tags_key"), IDS_NEVER_REUSED)

    run_id: Mapped[int] = mapped_column(ForeignKey("ml_runs.id", ondelete="CASCADE"), index=True)


class LoggedModel(DbModel):
    """MLflow 3's logged model (``m-<hex>``); its files are the package
    ``ml_experiment_<experiment iid>/<uuid>``."""

    __tablename__ = "ml_logged_models"
    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("ml_experiments.id", ondelete="CASCADE"), index=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    source_run_id: Mapped[int | None] = mapped_column(ForeignKey("ml_runs.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="LOGGED_MODEL_PENDING")
    model_type: Mapped[str] = mapped_column(String(255), default="")
    lifecycle_stage: Mapped[str] = mapped_column(String(32), default="active")
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    experiment: Mapped[Experiment] = relationship()
    source_run: Mapped[Run | None] = relationship()


class LoggedModelTag(KeyValue, DbModel):
    __tablename__ = "ml_logged_model_tags"
    __table_args__ = (UniqueConstraint("logged_model_id", "key", name="uq_ml_logged_model_tags_key"), IDS_NEVER_REUSED)

    logged_model_id: Mapped[int] = mapped_column(ForeignKey("ml_logged_models.id", ondelete="CASCADE"), index=True)


class LoggedModelParam(KeyValue, DbModel):
    __tablename__ = "ml_logged_model_params"
    __table_args__ = (
        UniqueConstraint("logged_model_id", "key", name="uq_ml_logged_model_params_key"),
        IDS_NEVER_REUSED,
    )

    logged_model_id: Mapped[int] = mapped_column(ForeignKey("ml_logged_models.id", ondelete="CASCADE"), index=True)


class RunOutput(DbModel):
    """A logged model a run produced (``runs/outputs``)."""

    __tablename__ = "ml_run_outputs"
    __table_args__ = (UniqueConstraint("run_id", "logged_model_id", name="uq_ml_run_outputs_model"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ml_runs.id", ondelete="CASCADE"), index=True)
    logged_model_id: Mapped[int] = mapped_column(ForeignKey("ml_logged_models.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(BigInteger, default=0)

    logged_model: Mapped[LoggedModel] = relationship()


class Dataset(DbModel):
    """A dataset a run took as input, as MLflow describes it (``mlflow.data``): one row per
    experiment, name and digest, however many runs use it."""

    __tablename__ = "ml_datasets"
    __table_args__ = (
        UniqueConstraint("experiment_id", "name", "digest", name="uq_ml_datasets_name_digest"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("ml_experiments.id", ondelete="CASCADE"))
    uuid: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(String(36))
    source_type: Mapped[str] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(Text)
    #: MLflow's JSON texts, kept as sent (``None`` when the client sent none).
    schema: Mapped[str | None] = mapped_column(Text, nullable=True)
    profile: Mapped[str | None] = mapped_column(Text, nullable=True)


class RunDatasetInput(DbModel):
    """A dataset used by a run (``runs/log-inputs``), once per run and dataset."""

    __tablename__ = "ml_run_dataset_inputs"
    __table_args__ = (
        UniqueConstraint("run_id", "dataset_id", name="uq_ml_run_dataset_inputs_dataset"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ml_runs.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("ml_datasets.id", ondelete="CASCADE"), index=True)

    dataset: Mapped[Dataset] = relationship()


class RunDatasetInputTag(DbModel):
    """A tag of a run's dataset input (``mlflow.data.context``: ``train``, ``eval``...)."""

    __tablename__ = "ml_run_dataset_input_tags"
    __table_args__ = (UniqueConstraint("input_id", "key", name="uq_ml_run_dataset_input_tags_key"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    input_id: Mapped[int] = mapped_column(ForeignKey("ml_run_dataset_inputs.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(500), default="")


class RunModelInput(DbModel):
    """A logged model a run used (``runs/log-inputs``: ``models``), once per run and model."""

    __tablename__ = "ml_run_model_inputs"
    __table_args__ = (
        UniqueConstraint("run_id", "logged_model_id", name="uq_ml_run_model_inputs_model"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("ml_runs.id", ondelete="CASCADE"), index=True)
    logged_model_id: Mapped[int] = mapped_column(ForeignKey("ml_logged_models.id", ondelete="CASCADE"), index=True)

    logged_model: Mapped[LoggedModel] = relationship()


class LoggedModelMetric(DbModel):
    """A metric point logged on a logged model (``log_metric(..., model_id=...)``) by a run,
    optionally about a dataset (by name and digest, as MLflow keeps it). Every point is kept."""

    __tablename__ = "ml_logged_model_metrics"
    __table_args__ = (Index("ix_ml_logged_model_metrics_model_key", "logged_model_id", "key"), IDS_NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    logged_model_id: Mapped[int] = mapped_column(ForeignKey("ml_logged_models.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("ml_runs.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(250))
    #: NaN is kept as ``is_nan`` with value 0, as in ``ml_run_metrics``.
    value: Mapped[float] = mapped_column(Float)
    is_nan: Mapped[bool] = mapped_column(Boolean, default=False)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger, default=0)
    dataset_name: Mapped[str | None] = mapped_column(String(500), nullable=True)
    dataset_digest: Mapped[str | None] = mapped_column(String(36), nullable=True)

    run: Mapped[Run] = relationship()
