"""runs keep their latest metrics: ml_run_latest_metrics, for run searches in the database

MLflow's ``latest_metrics``: one row per run and metric key holding the point a run's metric shows,
the one with the highest step, then the latest timestamp, then the highest value as stored (NaN as
0), and of equal ones the first logged. Run
searches filter and sort on it in SQL instead of reading every point of every run. From now on it is
kept as points are logged; this revision fills it from the points logged so far. Downgrading drops it
(the points stay in ``ml_run_metrics``).

Revision ID: model_registry_0005
Revises: model_registry_0004
Create Date: 2026-12-05 23:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'model_registry_0005'
down_revision = 'model_registry_0004'
branch_labels = None
depends_on = None

BACKFILL = '''
INSERT INTO ml_run_latest_metrics (run_id, key, value, is_nan, timestamp, step)
SELECT run_id, key, value, is_nan, timestamp, step FROM (
    SELECT run_id, key, value, is_nan, timestamp, step,
           ROW_NUMBER() OVER (
               PARTITION BY run_id, key ORDER BY step DESC, timestamp DESC, value DESC, id ASC
           ) AS place
    FROM ml_run_metrics
) ranked
WHERE place = 1
'''


def upgrade() -> None:
    op.create_table('ml_run_latest_metrics',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('is_nan', sa.Boolean(), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('step', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['ml_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'key')
    )
    with op.batch_alter_table('ml_run_latest_metrics', schema=None) as batch_op:
        batch_op.create_index('ix_ml_run_latest_metrics_key_value', ['key', 'value'], unique=False)
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table('ml_run_latest_metrics', schema=None) as batch_op:
        batch_op.drop_index('ix_ml_run_latest_metrics_key_value')
    op.drop_table('ml_run_latest_metrics')
