"""version tag objects: ml_model_versions.tag_index, and its GIN index on PostgreSQL

Each version keeps its tags as one JSON object as well (``{key: value}``; JSONB on PostgreSQL, JSON
text on SQLite), written with its tag rows from now on (``plugin.mlflow_registry.tag_index``) and
filled here for the versions that have tags (one ``UPDATE`` from the tags grouped per version; on
PostgreSQL this writes every tagged version's row once). On PostgreSQL a GIN index
(``jsonb_path_ops``) on the objects answers a model version search's ``tags.k = 'v'`` filters
together, without the tag rows: a search with three tags and no model read the versions of the
narrowest tag and merged the others' index ranges (296 ms at a million versions). SQLite has no
such index and keeps searching the tag rows. Downgrading drops the index and the column.

Revision ID: model_registry_0016
Revises: model_registry_0013
Create Date: 2026-12-06 08:50:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'model_registry_0016'
down_revision = 'model_registry_0013'
branch_labels = None
depends_on = None

INDEX = 'ix_ml_model_versions_tag_index'


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column(
        'ml_model_versions',
        sa.Column('tag_index', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    )
    if bind.dialect.name == 'postgresql':
        op.execute(
            'UPDATE ml_model_versions AS v SET tag_index = t.tags'
            ' FROM (SELECT version_id, jsonb_object_agg(key, value) AS tags'
            ' FROM ml_model_version_tags GROUP BY version_id) AS t'
            ' WHERE v.id = t.version_id'
        )
        op.create_index(
            INDEX, 'ml_model_versions', ['tag_index'], unique=False,
            postgresql_using='gin', postgresql_ops={'tag_index': 'jsonb_path_ops'},
        )
        op.execute('ANALYZE ml_model_versions')
    else:
        op.execute(
            'UPDATE ml_model_versions SET tag_index = (SELECT json_group_object(key, value)'
            ' FROM ml_model_version_tags AS t WHERE t.version_id = ml_model_versions.id)'
            ' WHERE id IN (SELECT version_id FROM ml_model_version_tags)'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index(INDEX, table_name='ml_model_versions')
    with op.batch_alter_table('ml_model_versions', schema=None) as batch_op:
        batch_op.drop_column('tag_index')
