"""version tag value prefix column: ml_model_version_tags.value_prefix, index (key, value_prefix, version_id)

A version tag's indexed value prefix (its first 200 characters) becomes a column the database
computes (``GENERATED ALWAYS AS (substr(value, 1, 200))``: stored on PostgreSQL, virtual on SQLite,
whose ``ALTER TABLE`` adds only those), and the search index on (key, value prefix, version) is made
on it instead of on the expression: PostgreSQL scans an expression index only with the table's rows
(it wants ``value`` itself), a column index alone, so a search with several ``tags.k = 'v'``
filters intersects them in the index. On PostgreSQL adding the column rewrites the table, and
extended statistics on (key, value_prefix) tell the planner how many versions a ``tags.k = 'v'``
passes (without them it multiplies the two columns' frequencies, a fifth of the truth for a
registry where every version has the key, and reads the tags in the wrong order). Downgrading drops
the statistics and the column and makes the expression index again.

Revision ID: model_registry_0015
Revises: model_registry_0014
Create Date: 2026-12-06 06:10:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'model_registry_0015'
down_revision = 'model_registry_0014'
branch_labels = None
depends_on = None

PREFIX = 'substr(value, 1, 200)'
STATISTICS = 'st_ml_model_version_tags_key_prefix'


def upgrade() -> None:
    stored = op.get_bind().dialect.name != 'sqlite'
    op.add_column(
        'ml_model_version_tags', sa.Column('value_prefix', sa.String(200), sa.Computed(PREFIX, persisted=stored), nullable=True)
    )
    op.create_index(
        'ix_ml_model_version_tags_key_prefix', 'ml_model_version_tags', ['key', 'value_prefix', 'version_id'], unique=False
    )
    op.drop_index('ix_ml_model_version_tags_key_value', table_name='ml_model_version_tags')
    if stored:  # PostgreSQL
        op.execute(f'CREATE STATISTICS {STATISTICS} (dependencies, mcv) ON key, value_prefix FROM ml_model_version_tags')
        op.execute('ANALYZE ml_model_version_tags')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.execute(f'DROP STATISTICS IF EXISTS {STATISTICS}')
    op.create_index(
        'ix_ml_model_version_tags_key_value', 'ml_model_version_tags', ['key', sa.text(PREFIX), 'version_id'], unique=False
    )
    op.drop_index('ix_ml_model_version_tags_key_prefix', table_name='ml_model_version_tags')
    op.drop_column('ml_model_version_tags', 'value_prefix')
