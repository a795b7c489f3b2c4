"""webhook secrets encrypted at rest

Revision ID: core_0008
Revises: core_0006
Create Date: 2026-12-06 06:10:00

``webhooks.secret`` (plain text) becomes ``webhooks.secret_ciphertext``: each stored secret is
encrypted with the key derived from the instance's ``SECRET_KEY`` (``package_api.webhooks.secret_box``,
which the migration runs under: ``modelshelf db upgrade`` builds the app, so the key is the one the
server will decrypt with). Downgrading decrypts them back. See docs/webhooks.md, "Secrets at rest".
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from flask import current_app

from package_api.webhooks.secret_box import SecretBox

revision = 'core_0008'
down_revision = 'core_0006'
branch_labels = None
depends_on = None

WEBHOOKS = sa.table('webhooks', sa.column('id', sa.Integer()), sa.column('secret', sa.String()),
                    sa.column('secret_ciphertext', sa.Text()))


def _box() -> SecretBox:
    """The running app's keys (the migration is run inside its app context)."""
    return SecretBox.of(current_app)


def upgrade() -> None:
    box = _box()
    with op.batch_alter_table('webhooks', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('secret_ciphertext', sa.Text(), nullable=False, server_default=''))
    connection = op.get_bind()
    rows = connection.execute(sa.select(WEBHOOKS.c.id, WEBHOOKS.c.secret).where(WEBHOOKS.c.secret != '')).all()
    for hook_id, secret in rows:
        connection.execute(
            sa.update(WEBHOOKS).where(WEBHOOKS.c.id == hook_id).values(secret_ciphertext=box.seal(secret))
        )
    with op.batch_alter_table('webhooks', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('secret_ciphertext', server_default=None)
        batch_op.drop_column('secret')


def downgrade() -> None:
    box = _box()
    with op.batch_alter_table('webhooks', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('secret', sa.String(length=255), nullable=False, server_default=''))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(WEBHOOKS.c.id, WEBHOOKS.c.secret_ciphertext).where(WEBHOOKS.c.secret_ciphertext != '')
    ).all()
    for hook_id, sealed in rows:
        connection.execute(sa.update(WEBHOOKS).where(WEBHOOKS.c.id == hook_id).values(secret=box.open(sealed)))
    with op.batch_alter_table('webhooks', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.alter_column('secret', server_default=None)
        batch_op.drop_column('secret_ciphertext')
