"""sign-in throttling and session generations

Revision ID: core_0004
Revises: core_0003
Create Date: 2026-12-06 00:45:00

Failed sign-ins are counted per account name and per client address in ``sign_in_failures``, shared
by every node, and too many in a window refuse further attempts for a while. Each user has a
``session_generation``, part of every browser session's fingerprint: signing out, a new password and
"sign out everywhere" bump it, so a copied session cookie stops working at once.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'core_0004'
down_revision = 'core_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sign_in_failures',
        sa.Column('scope', sa.String(length=16), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_started_at', sa.DateTime(), nullable=False),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('scope', 'key'),
    )
    # SQLite adds a column in place; keep the table's AUTOINCREMENT should it ever be rebuilt (core_0002).
    with op.batch_alter_table('users', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('users', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('session_generation')
    op.drop_table('sign_in_failures')
