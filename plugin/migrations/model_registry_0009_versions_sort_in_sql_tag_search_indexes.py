"""versions sort in SQL, tag search indexes: ml_model_versions.precedence and .release, tag indexes

Lists and searches of a large registry order, filter and page in SQL. A version's SemVer precedence
becomes a column that sorts as versions do (``semver.precedence``: bytes) with whether it is a
release, so that the versions list pages in SQL and a model's latest version (the highest release,
else the highest prerelease) is one index probe; this revision computes both for the versions made
before it. Indexes: (model_id, precedence) and (model_id, release, precedence) on versions, and
(key, first 200 characters of value, owner) on model and version tags for the searches' tag filters
(a whole value may have 100,000 characters, more than a PostgreSQL index entry holds). Downgrading
drops the columns and the indexes.

Revision ID: model_registry_0009
Revises: model_registry_0005
Create Date: 2026-12-06 03:00:00.000000
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

from plugin.registry import semver

revision = 'model_registry_0009'
down_revision = 'model_registry_0006'
branch_labels = None
depends_on = None

TAG_VALUE_PREFIX = sa.text('substr(value, 1, 200)')


def upgrade() -> None:
    with op.batch_alter_table('ml_model_versions', schema=None) as batch_op:  # (SQLite adds columns in place)
        batch_op.add_column(sa.Column('precedence', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('release', sa.Boolean(), nullable=True))
    connection = op.get_bind()
    versions = sa.table('ml_model_versions', sa.column('id', sa.Integer), sa.column('version', sa.String),
                        sa.column('precedence', sa.LargeBinary), sa.column('release', sa.Boolean))
    rows = connection.execute(sa.select(versions.c.id, versions.c.version)).all()
    update = (
        sa.update(versions)
        .where(versions.c.id == sa.bindparam('row_id'))
        .values(precedence=sa.bindparam('p'), release=sa.bindparam('r'))
    )
    for start in range(0, len(rows), 1000):
        chunk = [{'row_id': i, 'p': semver.precedence(v), 'r': semver.is_release(v)} for i, v in rows[start:start + 1000]]
        connection.execute(update, chunk)
    with _keeping_the_id_counter(connection), op.batch_alter_table(
        'ml_model_versions', table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.alter_column('precedence', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column('release', existing_type=sa.Boolean(), nullable=False)
        batch_op.create_index('ix_ml_model_versions_model_precedence', ['model_id', 'precedence'], unique=False)
        batch_op.create_index(
            'ix_ml_model_versions_model_release_precedence', ['model_id', 'release', 'precedence'], unique=False
        )
    op.create_index('ix_ml_model_tags_key_value', 'ml_model_tags', ['key', TAG_VALUE_PREFIX, 'model_id'], unique=False)
    op.create_index(
        'ix_ml_model_version_tags_key_value', 'ml_model_version_tags', ['key', TAG_VALUE_PREFIX, 'version_id'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_ml_model_version_tags_key_value', table_name='ml_model_version_tags')
    op.drop_index('ix_ml_model_tags_key_value', table_name='ml_model_tags')
    with _keeping_the_id_counter(op.get_bind()), op.batch_alter_table(
        'ml_model_versions', table_kwargs={'sqlite_autoincrement': True}
    ) as batch_op:
        batch_op.drop_index('ix_ml_model_versions_model_release_precedence')
        batch_op.drop_index('ix_ml_model_versions_model_precedence')
        batch_op.drop_column('release')
        batch_op.drop_column('precedence')


@contextmanager
def _keeping_the_id_counter(bind: sa.Connection) -> Iterator[None]:
    """On SQLite, give the copy of ``ml_model_versions`` the original's ``AUTOINCREMENT`` counter (as
    model_registry_0003 does for ``ml_models``): ids of deleted versions are never handed out again."""
    sqlite = bind.dialect.name == "sqlite"
    table = "ml_model_versions"
    counter = bind.exec_driver_sql(f"SELECT seq FROM sqlite_sequence WHERE name = '{table}'").scalar() if sqlite else None
    yield
    if counter is not None:
        bind.exec_driver_sql(f"DELETE FROM sqlite_sequence WHERE name = '{table}'")
        highest = bind.exec_driver_sql(f"SELECT MAX(id) FROM {table}").scalar() or 0
        bind.exec_driver_sql(f"INSERT INTO sqlite_sequence (name, seq) VALUES ('{table}', ?)", (max(counter, highest),))
