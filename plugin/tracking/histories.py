"""Metric histories for the pages' charts, bounded: a history of at most ``limit`` points is read
whole; a longer one is summarised in the database, in ``limit // 2`` equal slices of its steps (of
its times when every point has the same step), each slice as two points at its middle step and time:
its lowest and its highest finite value. A 100,000-point history is one aggregate query (no sort),
and its spikes stay visible."""
from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import case, func, or_, select

from package_api.plugin_api import DbSession
from plugin.tracking.models import Run, RunMetric
from plugin.tracking.runs import MetricPoint

#: run id -> metric key -> its points, by step then timestamp.
Histories = dict[int, dict[str, list[MetricPoint]]]
#: At most this many points of one history are read (charts draw no more).
LIMIT = 600
#: Beyond a float's range: the stored infinities, which a chart leaves out anyway.
_FINITE = 1.7e308


def histories(
    session: DbSession, runs: Sequence[Run], keys: Collection[str] | None = None, *, limit: int = LIMIT
) -> Histories:
    """The histories of ``runs``' metrics (only ``keys`` when given), each bounded by ``limit``."""
    found: Histories = {run.id: {} for run in runs}
    if not runs:
        return found
    counted = select(
        RunMetric.run_id,
        RunMetric.key,
        func.count(),
        func.min(RunMetric.step),
        func.max(RunMetric.step),
        func.min(RunMetric.timestamp),
        func.max(RunMetric.timestamp),
    ).where(RunMetric.run_id.in_(list(found)))
    if keys is not None:
        counted = counted.where(RunMetric.key.in_(list(keys)))
    sizes = session.execute(counted.group_by(RunMetric.run_id, RunMetric.key)).all()
    whole: dict[int, list[str]] = {}
    for run_id, key, count, step0, step1, time0, time1 in sorted(sizes, key=lambda row: (row[0], row[1])):
        found[run_id][key] = []
        if count <= limit:
            whole.setdefault(run_id, []).append(key)
        elif step1 > step0:
            found[run_id][key] = _summary(session, run_id, key, RunMetric.step, step0, step1, limit)
        else:
            found[run_id][key] = _summary(session, run_id, key, RunMetric.timestamp, time0, time1, limit)
    for run_id, wanted in whole.items():
        rows = session.execute(
            select(RunMetric.key, RunMetric.value, RunMetric.is_nan, RunMetric.timestamp, RunMetric.step)
            .where(RunMetric.run_id == run_id, RunMetric.key.in_(wanted))
            .order_by(RunMetric.key, RunMetric.step, RunMetric.timestamp, RunMetric.id)
        )
        for key, value, nan, timestamp, step in rows:
            found[run_id][key].append(MetricPoint(key, float("nan") if nan else value, timestamp, step))
    return found


def _summary(
    session: DbSession, run_id: int, key: str, axis: Any, low: int, high: int, limit: int
) -> list[MetricPoint]:
    """The lowest and highest finite value in each of ``limit // 2`` equal slices of ``axis``
    (a column: step or timestamp) between ``low`` and ``high``, at the slice's middle."""
    slices = max(1, limit // 2)
    bucket = ((axis - low) * slices // (high - low + 1)).label("bucket")
    finite = case(
        (or_(RunMetric.is_nan.is_(True), RunMetric.value > _FINITE, RunMetric.value < -_FINITE), None),
        else_=RunMetric.value,
    )
    rows = session.execute(
        select(
            bucket,
            func.min(RunMetric.step),
            func.max(RunMetric.step),
            func.min(RunMetric.timestamp),
            func.max(RunMetric.timestamp),
            func.min(finite),
            func.max(finite),
        )
        .where(RunMetric.run_id == run_id, RunMetric.key == key)
        .group_by(bucket)
        .order_by(bucket)
    )
    points: list[MetricPoint] = []
    for _, step0, step1, time0, time1, lowest, highest in rows:
        step, timestamp = (step0 + step1) // 2, (time0 + time1) // 2
        values = dict.fromkeys(v for v in (lowest, highest) if v is not None)
        points.extend(MetricPoint(key, float(v), timestamp, step) for v in values)
    return points
