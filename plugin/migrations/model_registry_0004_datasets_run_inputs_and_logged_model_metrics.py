"""datasets, run inputs and logged models' metrics

MLflow's ``runs/log-inputs`` records the datasets a run used (``ml_datasets``: one row per
experiment, name and digest, as MLflow dedupes them), each use with its tags
(``ml_run_dataset_inputs``, ``ml_run_dataset_input_tags``: ``mlflow.data.context = train``), and the
logged models a run used (``ml_run_model_inputs``). Metrics logged with a ``model_id``
(``log_metric(..., model_id=...)``, ``mlflow.evaluate``) are kept on the logged model too
(``ml_logged_model_metrics``), with the run that logged them and the dataset they are about. New
tables only: nothing existing changes, and downgrading drops them with what they hold.

Revision ID: model_registry_0004
Revises: model_registry_0003
Create Date: 2026-12-05 23:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'model_registry_0004'
down_revision = 'model_registry_0003'
branch_labels = None
depends_on = None

AUTOINCREMENT = {'sqlite_autoincrement': True}


def upgrade() -> None:
    op.create_table('ml_datasets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('digest', sa.String(length=36), nullable=False),
    sa.Column('source_type', sa.String(length=36), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('schema', sa.Text(), nullable=True),
    sa.Column('profile', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['ml_experiments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('experiment_id', 'name', 'digest', name='uq_ml_datasets_name_digest'),
    sa.UniqueConstraint('uuid'),
    **AUTOINCREMENT,
    )
    op.create_table('ml_run_dataset_inputs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['ml_datasets.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['ml_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'dataset_id', name='uq_ml_run_dataset_inputs_dataset'),
    **AUTOINCREMENT,
    )
    with op.batch_alter_table('ml_run_dataset_inputs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_run_dataset_inputs_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ml_run_dataset_inputs_run_id'), ['run_id'], unique=False)

    op.create_table('ml_run_dataset_input_tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('input_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=500), nullable=False),
    sa.ForeignKeyConstraint(['input_id'], ['ml_run_dataset_inputs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('input_id', 'key', name='uq_ml_run_dataset_input_tags_key'),
    **AUTOINCREMENT,
    )
    with op.batch_alter_table('ml_run_dataset_input_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_run_dataset_input_tags_input_id'), ['input_id'], unique=False)

    op.create_table('ml_run_model_inputs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('logged_model_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['logged_model_id'], ['ml_logged_models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['ml_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'logged_model_id', name='uq_ml_run_model_inputs_model'),
    **AUTOINCREMENT,
    )
    with op.batch_alter_table('ml_run_model_inputs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_run_model_inputs_logged_model_id'), ['logged_model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ml_run_model_inputs_run_id'), ['run_id'], unique=False)

    op.create_table('ml_logged_model_metrics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('logged_model_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('is_nan', sa.Boolean(), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('step', sa.BigInteger(), nullable=False),
    sa.Column('dataset_name', sa.String(length=500), nullable=True),
    sa.Column('dataset_digest', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['logged_model_id'], ['ml_logged_models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['ml_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    **AUTOINCREMENT,
    )
    with op.batch_alter_table('ml_logged_model_metrics', schema=None) as batch_op:
        batch_op.create_index('ix_ml_logged_model_metrics_model_key', ['logged_model_id', 'key'], unique=False)
        batch_op.create_index(batch_op.f('ix_ml_logged_model_metrics_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_table('ml_logged_model_metrics')
    op.drop_table('ml_run_model_inputs')
    op.drop_table('ml_run_dataset_input_tags')
    op.drop_table('ml_run_dataset_inputs')
    op.drop_table('ml_datasets')
