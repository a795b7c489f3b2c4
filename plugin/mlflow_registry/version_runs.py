"""Every model version is also a run: its own run in the model's default experiment, made with
the version (the package pipeline's ``version_run`` step, in the transaction that creates the
version's package), whose artifacts are the version's package. A version's registration records the
run MLflow reports for it (its own run, or the training run it was registered from)."""
from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.orm import joinedload

from package_api.plugin_api import DbSession, Package, PackageStatus, committed, insert_row
from plugin.mlflow_registry.models import Registration
from plugin.registry.models import ModelVersion
from plugin.registry.projection import Projection, made_version, may_be_version
from plugin.tracking.experiments import ExperimentService
from plugin.tracking.models import Run
from plugin.tracking.runs import RunService
from plugin.tracking.times import milliseconds

#: ``InstanceState.info`` key of a version made in this session: the registration ``make`` gave it,
#: which ``ensure`` returns without reading it back.
REGISTRATION_MADE = "modelshelf.registration_made"
#: A version's own run is a record, not a training job: it is finished from the start.
OWN_RUN_STATUS = "FINISHED"


class VersionRuns:
    def __init__(self, session: DbSession) -> None:
        self.session = session

    def ensure_for_package(self, package: Package) -> Registration | None:
        """The registration of the version ``package`` is (made with its run if missing, in the unit
        of work in progress or in one of its own); ``None`` for a package that is not a model version."""
        if not may_be_version(package) or package.status == PackageStatus.PENDING_DESTRUCTION:
            return None
        version = made_version(package)
        if version is not None:
            return self.make(version)
        version = self.session.scalar(select(ModelVersion).where(ModelVersion.package_id == package.id))
        if version is None:  # a package older than the model registry (or than its model): project it now
            version = Projection(self.session).version_for(package)
        return None if version is None else self.ensure(version)

    def ensure(self, version: ModelVersion) -> Registration:
        """The version's registration, with its own run, both made if missing (a unit of work:
        ``committed``)."""
        made = inspect(version).info.get(REGISTRATION_MADE)
        if isinstance(made, Registration):
            return made  # a version made in this session got both from ``make``
        registration = self.session.get(Registration, version.id, options=[joinedload(Registration.run)])
        if registration is not None:
            run = registration.run  # loaded with it: registered from no other run, it is the version's own
            if (run is not None and run.model_version_id == version.id) or self.own_run_of(version.id) is not None:
                return registration
        experiment = ExperimentService(self.session).default_for(version.model)
        runs = RunService(self.session)
        version_id = version.id
        run_name = f"{version.model.name}-{version.version}"
        started = milliseconds(version.created_at) or 0
        author = version.author

        def work() -> Registration:
            run = self.own_run_of(version_id)
            if run is None:
                run = runs.build(
                    experiment,
                    creator=author,
                    run_name=run_name,
                    start_time=started,
                    model_version_id=version_id,
                    status=OWN_RUN_STATUS,
                    end_time=started,
                )
            found = self.session.get(Registration, version_id)
            if found is None:
                found = Registration(version_id=version_id, run_id=run.id)
                self.session.add(found)
                self.session.flush()
            return found

        return committed(self.session, work)

    def make(self, version: ModelVersion) -> Registration:
        """The registration and own run of ``version``, which this unit of work has just made (so it has
        neither): written without reading anything back (``ensure`` for any version)."""
        experiment = ExperimentService(self.session).default_for(version.model)
        started = milliseconds(version.created_at) or 0
        run = RunService(self.session).build(
            experiment,
            creator=version.author,
            run_name=f"{version.model.name}-{version.version}",
            start_time=started,
            model_version_id=version.id,
            status=OWN_RUN_STATUS,
            end_time=started,
        )
        registration = Registration(version_id=version.id, run_id=run.id, run=run)
        self.session.add(registration)  # flushed with what the registration sets next: one INSERT
        inspect(version).info[REGISTRATION_MADE] = registration
        return registration

    def write(self, registration: Registration) -> None:
        """Write now, as it is set, a registration ``make`` gave (pending until the next flush): its
        ``INSERT`` alone, not a flush of the session. Another registration waits for the flush."""
        if inspect(registration).pending:
            self.session.expunge(registration)
            insert_row(self.session, registration)

    def own_run_of(self, version_id: int) -> Run | None:
        return self.session.scalar(select(Run).where(Run.model_version_id == version_id))

    def own_run(self, version: ModelVersion) -> Run:
        """The version's own run (made if missing): where its artifacts are addressed."""
        self.ensure(version)
        run = self.own_run_of(version.id)
        assert run is not None  # ensure made it
        return run
