"""xet storage: ml_xet_xorbs, ml_xet_xorb_projects, ml_xet_chunks, ml_xet_files, ml_xet_file_xorbs

The tables of the Xet CAS service (``plugin.huggingface.xorbs``): the xorbs in the blob store, the
projects that may use each, the chunk index of the deduplication query, and the files shards
described with the xorbs each is rebuilt from. They start empty; downgrading drops them (the xorb
objects stay in the store, and the files committed from them lose their bytes: downgrade only
before any Xet upload).

Revision ID: model_registry_0013
Revises: model_registry_0015 (written on 0010, re-chained after scale2's 0014 and 0015 when merged)
Create Date: 2026-12-06 05:40:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'model_registry_0013'
down_revision = 'model_registry_0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ml_xet_xorbs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('unpacked', sa.BigInteger(), nullable=False),
    sa.Column('chunks', sa.Integer(), nullable=False),
    sa.Column('layout', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hash'),
    sa.UniqueConstraint('storage_key'),
    sqlite_autoincrement=True
    )
    op.create_table('ml_xet_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hash'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('ml_xet_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_xet_files_sha256'), ['sha256'], unique=False)

    op.create_table('ml_xet_xorb_projects',
    sa.Column('xorb_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['xorb_id'], ['ml_xet_xorbs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('xorb_id', 'project_id')
    )
    with op.batch_alter_table('ml_xet_xorb_projects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_xet_xorb_projects_project_id'), ['project_id'], unique=False)

    op.create_table('ml_xet_chunks',
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('xorb_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['xorb_id'], ['ml_xet_xorbs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('hash', 'xorb_id')
    )
    with op.batch_alter_table('ml_xet_chunks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_xet_chunks_xorb_id'), ['xorb_id'], unique=False)

    op.create_table('ml_xet_file_xorbs',
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('xorb_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['ml_xet_files.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['xorb_id'], ['ml_xet_xorbs.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('file_id', 'xorb_id')
    )
    with op.batch_alter_table('ml_xet_file_xorbs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ml_xet_file_xorbs_xorb_id'), ['xorb_id'], unique=False)


def downgrade() -> None:
    op.drop_table('ml_xet_file_xorbs')
    op.drop_table('ml_xet_chunks')
    op.drop_table('ml_xet_xorb_projects')
    op.drop_table('ml_xet_files')
    op.drop_table('ml_xet_xorbs')
