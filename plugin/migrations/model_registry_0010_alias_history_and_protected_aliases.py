"""alias history and protected aliases: ml_model_alias_moves, ml_alias_rules, ml_promotion_requests, ml_promotion_reviews

Every move of a model's alias is recorded from now on (``ml_model_alias_moves``: who, when, from
which version to which, through which promotion request). The aliases that exist already get a
first row, action ``existing``, dated when the alias was made (the database kept no earlier moves),
with no author. Protected alias rules (``ml_alias_rules``) and promotion requests with their reviews
start empty. Downgrading drops the four tables (the aliases themselves stay).

Revision ID: model_registry_0010
Revises: model_registry_0005
Create Date: 2026-12-06 03:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'model_registry_0010'
down_revision = 'model_registry_0009'
branch_labels = None
depends_on = None

BACKFILL = '''
INSERT INTO ml_model_alias_moves (model_id, alias, action, to_version_id, to_version, author_name, created_at)
SELECT a.model_id, a.alias, 'existing', a.version_id, v.version, '', a.created_at
FROM ml_model_aliases a JOIN ml_model_versions v ON v.id = a.version_id
ORDER BY a.created_at, a.id
'''


def upgrade() -> None:
    op.create_table('ml_alias_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('alias_pattern', sa.String(length=255), nullable=False),
    sa.Column('minimum_access_level', sa.Integer(), nullable=False),
    sa.Column('approvals_required', sa.Integer(), nullable=False),
    sa.Column('required_tags', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'alias_pattern', name='uq_ml_alias_rules_pattern'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('ml_alias_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_alias_rules_project_id'), ['project_id'], unique=False)

    op.create_table('ml_promotion_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=255), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('rollback', sa.Boolean(), nullable=False),
    sa.Column('rule', sa.String(length=1024), nullable=False),
    sa.Column('minimum_access_level', sa.Integer(), nullable=False),
    sa.Column('approvals_required', sa.Integer(), nullable=False),
    sa.Column('requester_id', sa.Integer(), nullable=True),
    sa.Column('requester_name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['model_id'], ['ml_models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requester_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['version_id'], ['ml_model_versions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('ml_promotion_requests', schema=None) as batch_op:
        batch_op.create_index('ix_ml_promotion_requests_model', ['model_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_ml_promotion_requests_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ml_promotion_requests_version_id'), ['version_id'], unique=False)

    op.create_table('ml_promotion_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('approved', sa.Boolean(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['ml_promotion_requests.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id', 'user_id', name='uq_ml_promotion_reviews_user'),
    sqlite_autoincrement=True
    )

    op.create_table('ml_model_alias_moves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('from_version_id', sa.Integer(), nullable=True),
    sa.Column('from_version', sa.String(length=255), nullable=True),
    sa.Column('to_version_id', sa.Integer(), nullable=True),
    sa.Column('to_version', sa.String(length=255), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_name', sa.String(length=255), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['from_version_id'], ['ml_model_versions.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['model_id'], ['ml_models.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['ml_promotion_requests.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['to_version_id'], ['ml_model_versions.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('ml_model_alias_moves', schema=None) as batch_op:
        batch_op.create_index('ix_ml_model_alias_moves_alias', ['model_id', 'alias', 'id'], unique=False)
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table('ml_model_alias_moves', schema=None) as batch_op:
        batch_op.drop_index('ix_ml_model_alias_moves_alias')
    op.drop_table('ml_model_alias_moves')
    op.drop_table('ml_promotion_reviews')
    with op.batch_alter_table('ml_promotion_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_promotion_requests_version_id'))
        batch_op.drop_index(batch_op.f('ix_ml_promotion_requests_project_id'))
        batch_op.drop_index('ix_ml_promotion_requests_model')
    op.drop_table('ml_promotion_requests')
    with op.batch_alter_table('ml_alias_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ml_alias_rules_project_id'))
    op.drop_table('ml_alias_rules')
