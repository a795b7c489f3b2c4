"""package cleanup policies

Revision ID: core_0009
Revises: core_0008
Create Date: 2026-12-06 05:40:00

One cleanup policy per project (GitLab's container expiration policy, applied to packages and model
versions): whether it is enabled, its cadence, ``keep_n``, ``older_than`` in days, the regexes that
select versions for removal and keep them, a package name regex, and when the server runs it next.
See docs/cleanup.md. (Written on core_0006 beside core_0008, which was merged first; numbered 0009 when it was re-chained after it.)
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'core_0009'
down_revision = 'core_0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'package_cleanup_policies',
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('cadence', sa.String(length=16), nullable=False),
        sa.Column('keep_n', sa.Integer(), nullable=True),
        sa.Column('older_than_days', sa.Integer(), nullable=True),
        sa.Column('name_regex_delete', sa.String(length=255), nullable=False),
        sa.Column('name_regex_keep', sa.String(length=255), nullable=False),
        sa.Column('package_name_regex', sa.String(length=255), nullable=False),
        sa.Column('next_run_at', sa.DateTime(), nullable=True),
        sa.Column('last_run_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('project_id'),
    )
    op.create_index(
        op.f('ix_package_cleanup_policies_next_run_at'), 'package_cleanup_policies', ['next_run_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('ix_package_cleanup_policies_next_run_at'), table_name='package_cleanup_policies')
    op.drop_table('package_cleanup_policies')
