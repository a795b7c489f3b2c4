"""versions keep their Hugging Face commit ids: ml_version_commits

A version seen through the Hugging Face API (``plugin.huggingface``) is a revision whose commit id is a
digest of its files. This table keeps it per version, so that ``revision=<commit id>`` is one indexed
look-up in a model however many versions it has; the package pipeline rewrites it with every change to
the version's files. Versions made before this revision get theirs when a revision of their model is
first resolved (hashing a file list needs the application's function, not SQL). Downgrading drops the
table.

Revision ID: model_registry_0006
Revises: model_registry_0005
Create Date: 2026-12-06 02:45:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'model_registry_0006'
down_revision = 'model_registry_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ml_version_commits',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('commit_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['ml_models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['version_id'], ['ml_model_versions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('version_id')
    )
    with op.batch_alter_table('ml_version_commits', schema=None) as batch_op:
        batch_op.create_index('ix_ml_version_commits_model_commit', ['model_id', 'commit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ml_version_commits', schema=None) as batch_op:
        batch_op.drop_index('ix_ml_version_commits_model_commit')
    op.drop_table('ml_version_commits')
