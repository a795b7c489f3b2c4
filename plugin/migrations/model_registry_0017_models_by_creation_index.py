"""models by creation index: ml_models (project_id, created_at, id)

A project's models list, newest first (the REST API's and the web UI's default order, GitLab's too),
sorted every model of the project to show a page of them: 5.8 ms of SQL at 10,002 models on
PostgreSQL, growing with the project. This index gives the page in its order: the first page reads
its rows and stops. Downgrading drops the index.

Revision ID: model_registry_0017
Revises: model_registry_0016
Create Date: 2026-12-07 17:00:00.000000
"""
from __future__ import annotations

from alembic import op

revision = 'model_registry_0017'
down_revision = 'model_registry_0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_ml_models_project_created', 'ml_models', ['project_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ml_models_project_created', table_name='ml_models')
