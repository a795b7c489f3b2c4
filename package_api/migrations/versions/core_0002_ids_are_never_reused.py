"""ids are never reused: SQLite tables become AUTOINCREMENT

Revision ID: core_0002
Revises: core_0001
Create Date: 2026-12-02 10:00:00

On SQLite, a table without ``AUTOINCREMENT`` gives a deleted highest id to the next row, so a link,
an audit event or a token id could name something else later. Each table is rebuilt with
``AUTOINCREMENT`` (Alembic's batch mode: a new table, the rows copied, ids and all, the old one
dropped), and its counter (``sqlite_sequence``) starts past the highest id the table holds and past
every id of it that the audit trail names, so that a row deleted before this upgrade keeps its id
too. ``package_api.ops.migrate.upgrade`` turns foreign key enforcement off around the rebuild (a
dropped table would otherwise take the rows that refer to it) and checks the keys before the commit.

PostgreSQL's ``SERIAL`` sequences never go back: nothing changes there.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'core_0002'
down_revision = 'core_0001'
branch_labels = None
depends_on = None

#: Each table, and what the audit trail calls its rows (``target_type``); ``audit_events`` columns
#: that hold ids of the table too.
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    'audit_events': ((), ()),
    'blobs': ((), ()),
    'uploads': ((), ()),
    'users': (('User',), ('author_id',)),
    'projects': (('Project',), ('project_id',)),
    'project_features': ((), ()),
    'memberships': ((), ()),
    'personal_access_tokens': (('PersonalAccessToken',), ()),
    'deploy_tokens': (('DeployToken',), ()),
    'ci_jobs': (('CiJob',), ()),
    'packages': (('Package',), ()),
    'package_build_infos': ((), ()),
    'package_files': (('PackageFile',), ()),
}


def highest_id(
    connection: sa.engine.Connection, table: str, target_types: tuple[str, ...], columns: tuple[str, ...]
) -> int:
    """The highest id ``table`` holds or the audit trail names."""
    queries = [f'SELECT MAX(id) FROM {table}']
    queries += [f"SELECT MAX(target_id) FROM audit_events WHERE target_type = '{kind}'" for kind in target_types]
    queries += [f'SELECT MAX({column}) FROM audit_events' for column in columns]
    return max((connection.exec_driver_sql(q).scalar() or 0) for q in queries)


def never_reuse_ids(table: str, seed: int) -> None:
    """Rebuild ``table`` as ``AUTOINCREMENT`` with its counter at ``seed``."""
    with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': True}):
        pass
    connection = op.get_bind()
    connection.exec_driver_sql('DELETE FROM sqlite_sequence WHERE name = ?', (table,))
    if seed:
        connection.exec_driver_sql('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)', (table, seed))


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != 'sqlite':
        return
    seeds = {table: highest_id(connection, table, *names) for table, names in TABLES.items()}
    for table, seed in seeds.items():
        never_reuse_ids(table, seed)


def downgrade() -> None:
    # The code before this revision works on AUTOINCREMENT tables as well: nothing to undo.
    pass
