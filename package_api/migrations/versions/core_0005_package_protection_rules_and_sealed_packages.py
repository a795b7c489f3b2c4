"""package protection rules and sealed packages

Revision ID: core_0005
Revises: core_0004
Create Date: 2026-12-06 02:45:00

GitLab's package protection rules (``package_protection_rules``: a name pattern with ``*``
wildcards, a package type, and the least access level that may push and that may delete what it
matches), and sealed packages: ``packages.sealed_at`` and ``sealed_by_id``. A sealed package's files
never change again and only an Owner deletes it (``package_api.packages.protection``).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'core_0005'
down_revision = 'core_0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'package_protection_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('package_name_pattern', sa.String(length=255), nullable=False),
        sa.Column('package_type', sa.String(length=32), nullable=False),
        sa.Column('minimum_access_level_for_push', sa.Integer(), nullable=True),
        sa.Column('minimum_access_level_for_delete', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint(
            'project_id', 'package_type', 'package_name_pattern', name='uq_package_protection_rules_pattern'
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('package_protection_rules', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_package_protection_rules_project_id'), ['project_id'], unique=False
        )
    # SQLite adds the columns in place (a NULL default needs no table rebuild); keep the table's
    # AUTOINCREMENT should it ever be rebuilt (core_0002).
    with op.batch_alter_table('packages', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('sealed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('sealed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            'fk_packages_sealed_by_id_users', 'users', ['sealed_by_id'], ['id'], ondelete='SET NULL'
        )


def downgrade() -> None:
    with op.batch_alter_table('packages', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint('fk_packages_sealed_by_id_users', type_='foreignkey')
        batch_op.drop_column('sealed_by_id')
        batch_op.drop_column('sealed_at')
    with op.batch_alter_table('package_protection_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_package_protection_rules_project_id'))
    op.drop_table('package_protection_rules')
