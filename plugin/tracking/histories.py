"""Metric histories for the pages' charts: every point of the chosen runs' metrics, by run and key,
each by step then time, read as plain columns (a 100,000-point history is one query of tuples, no
row objects)."""
from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select

from package_api.plugin_api import DbSession
from plugin.tracking.models import Run, RunMetric
from plugin.tracking.runs import MetricPoint

#: run id -> metric key -> its points, by step then timestamp.
Histories = dict[int, dict[str, list[MetricPoint]]]


def histories(session: DbSession, runs: Sequence[Run], keys: Collection[str] | None = None) -> Histories:
    """Every point of ``runs``' metrics (only ``keys`` when given)."""
    found: Histories = {run.id: {} for run in runs}
    if not runs:
        return found
    query = select(
        RunMetric.run_id, RunMetric.key, RunMetric.value, RunMetric.is_nan, RunMetric.timestamp, RunMetric.step
    ).where(RunMetric.run_id.in_(list(found)))
    if keys is not None:
        query = query.where(RunMetric.key.in_(list(keys)))
    rows = session.execute(
        query.order_by(RunMetric.run_id, RunMetric.key, RunMetric.step, RunMetric.timestamp, RunMetric.id)
    )
    for run_id, key, value, nan, timestamp, step in rows:
        found[run_id].setdefault(key, []).append(MetricPoint(key, float("nan") if nan else value, timestamp, step))
    return found
