"""staged registrations index: ml_model_version_registrations (version_id) where stage <> 'None'

A model's latest version in each MLflow stage (registered-models/get and /search, get-latest-versions)
is chosen from the versions in a stage other than ``None``, which are few and which this partial
index holds alone, and from the model's highest versions outside them; it used to read every
version of the model with its registration. Downgrading drops the index.

Revision ID: model_registry_0014
Revises: model_registry_0010
Create Date: 2026-12-06 06:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'model_registry_0014'
down_revision = 'model_registry_0010'
branch_labels = None
depends_on = None

STAGED = sa.text("stage <> 'None'")


def upgrade() -> None:
    op.create_index(
        'ix_ml_model_version_registrations_staged', 'ml_model_version_registrations', ['version_id'], unique=False,
        postgresql_where=STAGED, sqlite_where=STAGED,
    )


def downgrade() -> None:
    op.drop_index('ix_ml_model_version_registrations_staged', table_name='ml_model_version_registrations')
