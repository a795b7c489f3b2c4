"""ids and MLflow version numbers are never reused

Revision ID: model_registry_0002
Revises: model_registry_0001
Create Date: 2026-12-02 10:00:01

A model keeps the highest MLflow version number it ever gave (``ml_models.last_sequence``), so that
deleting its newest version does not hand that number to the next one (MLflow never reuses one, and a
pinned ``models:/name/4`` must not load another model later). It starts at the highest number each
model has now.

On SQLite, each table is rebuilt as ``AUTOINCREMENT`` (see the core's ``core_0002``), its counter
past the highest id it holds and every id of it the audit trail names. PostgreSQL's ``SERIAL``
sequences never go back: only the column is added there.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'model_registry_0002'
down_revision = 'model_registry_0001'
branch_labels = None
depends_on = None

#: Each table whose ids the database assigns, and what the audit trail calls its rows.
TABLES: dict[str, tuple[str, ...]] = {
    'ml_models': ('Model',),
    'ml_model_versions': (),
    'ml_model_tags': (),
    'ml_model_version_tags': (),
    'ml_model_aliases': (),
    'ml_experiments': ('Experiment',),
    'ml_experiment_tags': (),
    'ml_runs': ('Run',),
    'ml_run_params': (),
    'ml_run_metrics': (),
    'ml_run_tags': (),
    'ml_run_outputs': (),
    'ml_logged_models': ('LoggedModel',),
    'ml_logged_model_tags': (),
    'ml_logged_model_params': (),
}


def highest_id(connection: sa.engine.Connection, table: str, target_types: tuple[str, ...]) -> int:
    """The highest id ``table`` holds or the audit trail names."""
    queries = [f'SELECT MAX(id) FROM {table}']
    queries += [f"SELECT MAX(target_id) FROM audit_events WHERE target_type = '{kind}'" for kind in target_types]
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
    with op.batch_alter_table('ml_models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_sequence', sa.Integer(), server_default='0', nullable=False))
    op.execute(
        'UPDATE ml_models SET last_sequence = COALESCE('
        '(SELECT MAX(sequence) FROM ml_model_versions WHERE ml_model_versions.model_id = ml_models.id), 0)'
    )
    connection = op.get_bind()
    if connection.dialect.name != 'sqlite':
        return
    seeds = {table: highest_id(connection, table, names) for table, names in TABLES.items()}
    for table, seed in seeds.items():
        never_reuse_ids(table, seed)


def downgrade() -> None:
    # The AUTOINCREMENT tables stay: the code before this revision works on them as well.
    with op.batch_alter_table('ml_models', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('last_sequence')
