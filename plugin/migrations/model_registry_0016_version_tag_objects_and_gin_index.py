"""version tag objects: ml_model_versions.tag_index and its GIN index; trigram index of model names


Each version keeps its tags as one JSON object as well (``{key: value}``; JSONB on PostgreSQL, JSON
text on SQLite), written with its tag rows from now on (``plugin.mlflow_registry.tag_index``) and
filled here for the versions that have tags (one ``UPDATE`` from the tags grouped per version; on
PostgreSQL this writes every tagged version's row once). On PostgreSQL a GIN index
(``jsonb_path_ops``) on the objects answers a model version search's ``tags.k = 'v'`` filters
together, without the tag rows: a search with three tags and no model read the versions of the
narrowest tag and merged the others' index ranges (296 ms at a million versions). SQLite has no
such index and keeps searching the tag rows.

On PostgreSQL, where the server offers ``pg_trgm`` (a contrib module: Debian's and the official
images' packages have it) and the registry's role may create it (a trusted extension since
PostgreSQL 13: the database's owner may), the extension is created and a trigram GIN index on model
names answers the substring searches (``name ILIKE '%term%'``, 7 ms over 10,000 names scanned, 0.3
ms through the index). Where it cannot be, the revision says so in the log and goes on without the
index: the searches scan the project's models, as on SQLite.

Downgrading drops the indexes and the column (not the extension, which others may use).

Revision ID: model_registry_0016
Revises: model_registry_0013
Create Date: 2026-12-06 08:50:00.000000
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'model_registry_0016'
down_revision = 'model_registry_0013'
branch_labels = None
depends_on = None

INDEX = 'ix_ml_model_versions_tag_index'
TRIGRAMS = 'ix_ml_models_name_trgm'
log = logging.getLogger('alembic.runtime.migration')


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column(
        'ml_model_versions',
        sa.Column('tag_index', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    )
    if bind.dialect.name == 'postgresql':
        # Row by row in the table's order (each row's tags through their index), so that the rows'
        # new versions keep the order of the old ones (an UPDATE ... FROM a grouped join wrote them
        # in the hash's order, and a model's versions no longer lay together).
        op.execute(
            'UPDATE ml_model_versions AS v SET tag_index = (SELECT jsonb_object_agg(t.key, t.value)'
            ' FROM ml_model_version_tags AS t WHERE t.version_id = v.id)'
            ' WHERE EXISTS (SELECT 1 FROM ml_model_version_tags AS t WHERE t.version_id = v.id)'
        )
        op.create_index(
            INDEX, 'ml_model_versions', ['tag_index'], unique=False,
            postgresql_using='gin', postgresql_ops={'tag_index': 'jsonb_path_ops'},
        )
        op.execute('ANALYZE ml_model_versions')
        if _trigrams(bind):
            op.create_index(
                TRIGRAMS, 'ml_models', ['name'], unique=False,
                postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'},
            )
    else:
        op.execute(
            'UPDATE ml_model_versions SET tag_index = (SELECT json_group_object(key, value)'
            ' FROM ml_model_version_tags AS t WHERE t.version_id = ml_model_versions.id)'
            ' WHERE id IN (SELECT version_id FROM ml_model_version_tags)'
        )


def _trigrams(bind: sa.Connection) -> bool:
    """Whether pg_trgm's operators can be named here (on the search_path), the extension created
    here if need be and allowed."""
    visible = "SELECT 1 FROM pg_opclass WHERE opcname = 'gin_trgm_ops' AND pg_opclass_is_visible(oid)"
    if bind.execute(sa.text(visible)).first() is not None:
        return True
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first() is not None:
        log.warning('pg_trgm is in another schema than the search_path: model name searches scan the models')
        return False
    if bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first() is None:
        log.warning('pg_trgm is not installed on this PostgreSQL server: model name searches scan the models')
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text('CREATE EXTENSION IF NOT EXISTS pg_trgm'))
    except sa.exc.DBAPIError as refused:
        log.warning('CREATE EXTENSION pg_trgm refused (%s): model name searches scan the models; a superuser can '
                    'create it, then the index: CREATE INDEX %s ON ml_models USING gin (name gin_trgm_ops)',
                    str(refused.orig).strip(), TRIGRAMS)
        return False
    return bind.execute(sa.text(visible)).first() is not None


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'DROP INDEX IF EXISTS {TRIGRAMS}')
        op.drop_index(INDEX, table_name='ml_model_versions')
    with op.batch_alter_table('ml_model_versions', schema=None) as batch_op:
        batch_op.drop_column('tag_index')
