"""token families: a rotated token names the token it replaced

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-12-02 12:00:00

Rotating a personal or project access token revokes it and issues its successor, which names it
(``personal_access_tokens.previous_token_id``): a chain of rotations is a token family, and a
revoked token of a family that is used again revokes the family's live token (GitLab's automatic
reuse detection). Tokens made before this revision belong to no family.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'core_0003'
down_revision = 'core_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite adds a foreign key by rebuilding the table: keep it AUTOINCREMENT (core_0002).
    with op.batch_alter_table('personal_access_tokens', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('previous_token_id', sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_personal_access_tokens_previous_token_id'), ['previous_token_id'], unique=False
        )
        batch_op.create_foreign_key(
            'fk_personal_access_tokens_previous_token_id', 'personal_access_tokens', ['previous_token_id'], ['id'],
            ondelete='SET NULL',
        )


def downgrade() -> None:
    with op.batch_alter_table('personal_access_tokens', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_constraint('fk_personal_access_tokens_previous_token_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_personal_access_tokens_previous_token_id'))
        batch_op.drop_column('previous_token_id')
