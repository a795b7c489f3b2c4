"""baseline: the model registry and MLflow tracking

Revision ID: model_registry_0001
Revises: 
Create Date: 2026-11-26 22:54:11.916934
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'model_registry_0001'
down_revision = None
branch_labels = ('model_registry',)
depends_on = 'core_0001'


def upgrade() -> None:
    op.create_table('ml_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'name', name='uq_ml_models_project_name')
    )
    with op.batch_alter_table('ml_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_models_project_id'), ['project_id'], unique=False)

    op.create_table('ml_experiments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('iid', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=True),
    sa.Column('lifecycle_stage', sa.String(length=32), nullable=False),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['model_id'], ['ml_models.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'iid', name='uq_ml_experiments_project_iid'),
    sa.UniqueConstraint('project_id', 'name', name='uq_ml_experiments_project_name')
    )
    with op.batch_alter_table('ml_experiments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_experiments_model_id'), ['model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ml_experiments_project_id'), ['project_id'], unique=False)

    op.create_table('ml_model_tags',
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['ml_models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_id', 'key', name='uq_ml_model_tags_key')
    )
    with op.batch_alter_table('ml_model_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_model_tags_model_id'), ['model_id'], unique=False)

    op.create_table('ml_model_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=255), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['model_id'], ['ml_models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['package_id'], ['packages.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_id', 'sequence', name='uq_ml_model_versions_model_sequence'),
    sa.UniqueConstraint('model_id', 'version', name='uq_ml_model_versions_model_version'),
    sa.UniqueConstraint('package_id', name='uq_ml_model_versions_package')
    )
    with op.batch_alter_table('ml_model_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_model_versions_model_id'), ['model_id'], unique=False)

    op.create_table('ml_experiment_tags',
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['ml_experiments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('experiment_id', 'key', name='uq_ml_experiment_tags_key')
    )
    with op.batch_alter_table('ml_experiment_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_experiment_tags_experiment_id'), ['experiment_id'], unique=False)

    op.create_table('ml_model_aliases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=255), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['ml_models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['ml_model_versions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_id', 'alias', name='uq_ml_model_aliases_alias')
    )
    with op.batch_alter_table('ml_model_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_model_aliases_model_id'), ['model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ml_model_aliases_version_id'), ['version_id'], unique=False)

    op.create_table('ml_model_version_tags',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['version_id'], ['ml_model_versions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version_id', 'key', name='uq_ml_model_version_tags_key')
    )
    with op.batch_alter_table('ml_model_version_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_model_version_tags_version_id'), ['version_id'], unique=False)

    op.create_table('ml_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=250), nullable=False),
    sa.Column('user_name', sa.String(length=255), nullable=False),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('start_time', sa.BigInteger(), nullable=False),
    sa.Column('end_time', sa.BigInteger(), nullable=True),
    sa.Column('lifecycle_stage', sa.String(length=32), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=True),
    sa.Column('ci_job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ci_job_id'], ['ci_jobs.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['experiment_id'], ['ml_experiments.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_version_id'], ['ml_model_versions.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_version_id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('ml_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_runs_ci_job_id'), ['ci_job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ml_runs_experiment_id'), ['experiment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ml_runs_project_id'), ['project_id'], unique=False)

    op.create_table('ml_logged_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('source_run_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('model_type', sa.String(length=255), nullable=False),
    sa.Column('lifecycle_stage', sa.String(length=32), nullable=False),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['experiment_id'], ['ml_experiments.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_run_id'], ['ml_runs.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('ml_logged_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_logged_models_experiment_id'), ['experiment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ml_logged_models_project_id'), ['project_id'], unique=False)

    op.create_table('ml_run_metrics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('is_nan', sa.Boolean(), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('step', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['ml_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ml_run_metrics', schema=None) as batch_op:
        batch_op.create_index('ix_ml_run_metrics_run_key', ['run_id', 'key'], unique=False)

    op.create_table('ml_run_params',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['ml_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'key', name='uq_ml_run_params_key')
    )
    with op.batch_alter_table('ml_run_params', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_run_params_run_id'), ['run_id'], unique=False)

    op.create_table('ml_run_tags',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['ml_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'key', name='uq_ml_run_tags_key')
    )
    with op.batch_alter_table('ml_run_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_run_tags_run_id'), ['run_id'], unique=False)

    op.create_table('ml_logged_model_params',
    sa.Column('logged_model_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['logged_model_id'], ['ml_logged_models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('logged_model_id', 'key', name='uq_ml_logged_model_params_key')
    )
    with op.batch_alter_table('ml_logged_model_params', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_logged_model_params_logged_model_id'), ['logged_model_id'], unique=False)

    op.create_table('ml_logged_model_tags',
    sa.Column('logged_model_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=250), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['logged_model_id'], ['ml_logged_models.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('logged_model_id', 'key', name='uq_ml_logged_model_tags_key')
    )
    with op.batch_alter_table('ml_logged_model_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_logged_model_tags_logged_model_id'), ['logged_model_id'], unique=False)

    op.create_table('ml_model_version_registrations',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('logged_model_id', sa.Integer(), nullable=True),
    sa.Column('run_link', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['logged_model_id'], ['ml_logged_models.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['ml_runs.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['version_id'], ['ml_model_versions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id')
    )
    op.create_table('ml_run_outputs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('logged_model_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['logged_model_id'], ['ml_logged_models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['ml_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'logged_model_id', name='uq_ml_run_outputs_model')
    )
    with op.batch_alter_table('ml_run_outputs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_run_outputs_run_id'), ['run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ml_run_outputs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_run_outputs_run_id'))

    op.drop_table('ml_run_outputs')
    op.drop_table('ml_model_version_registrations')
    with op.batch_alter_table('ml_logged_model_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_logged_model_tags_logged_model_id'))

    op.drop_table('ml_logged_model_tags')
    with op.batch_alter_table('ml_logged_model_params', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_logged_model_params_logged_model_id'))

    op.drop_table('ml_logged_model_params')
    with op.batch_alter_table('ml_run_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_run_tags_run_id'))

    op.drop_table('ml_run_tags')
    with op.batch_alter_table('ml_run_params', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_run_params_run_id'))

    op.drop_table('ml_run_params')
    with op.batch_alter_table('ml_run_metrics', schema=None) as batch_op:
        batch_op.drop_index('ix_ml_run_metrics_run_key')

    op.drop_table('ml_run_metrics')
    with op.batch_alter_table('ml_logged_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_logged_models_project_id'))
        batch_op.drop_index(batch_op.f('ix_ml_logged_models_experiment_id'))

    op.drop_table('ml_logged_models')
    with op.batch_alter_table('ml_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_runs_project_id'))
        batch_op.drop_index(batch_op.f('ix_ml_runs_experiment_id'))
        batch_op.drop_index(batch_op.f('ix_ml_runs_ci_job_id'))

    op.drop_table('ml_runs')
    with op.batch_alter_table('ml_model_version_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_model_version_tags_version_id'))

    op.drop_table('ml_model_version_tags')
    with op.batch_alter_table('ml_model_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_model_aliases_version_id'))
        batch_op.drop_index(batch_op.f('ix_ml_model_aliases_model_id'))

    op.drop_table('ml_model_aliases')
    with op.batch_alter_table('ml_experiment_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_experiment_tags_experiment_id'))

    op.drop_table('ml_experiment_tags')
    with op.batch_alter_table('ml_model_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_model_versions_model_id'))

    op.drop_table('ml_model_versions')
    with op.batch_alter_table('ml_model_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_model_tags_model_id'))

    op.drop_table('ml_model_tags')
    with op.batch_alter_table('ml_experiments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_experiments_project_id'))
        batch_op.drop_index(batch_op.f('ix_ml_experiments_model_id'))

    op.drop_table('ml_experiments')
    with op.batch_alter_table('ml_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_models_project_id'))

    op.drop_table('ml_models')
