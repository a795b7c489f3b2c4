"""baseline: the package registry

Revision ID: core_0001
Revises: 
Create Date: 2026-11-26 22:54:10.170959
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'core_0001'
down_revision = None
branch_labels = ('core',)
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_name', sa.String(length=255), nullable=False),
    sa.Column('token_type', sa.String(length=64), nullable=False),
    sa.Column('event_name', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('target_details', sa.String(length=1000), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=False),
    sa.Column('details', sa.String(length=4000), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_project_created', ['project_id', 'created_at'], unique=False)

    op.create_table('blobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256'),
    sa.UniqueConstraint('storage_key')
    )
    op.create_table('uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('storage_key')
    )
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uploads_expires_at'), ['expires_at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('bot_project_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_bot_project_id'), ['bot_project_id'], unique=False)

    op.create_table('personal_access_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.Date(), nullable=True),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_digest')
    )
    op.create_table('projects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('namespace', sa.String(length=255), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=2000), nullable=False),
    sa.Column('visibility', sa.Enum('private', 'internal', 'public', name='visibility', native_enum=False, length=16), nullable=False),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('generic_duplicates_allowed', sa.Boolean(), nullable=False),
    sa.Column('generic_duplicate_exception_regex', sa.String(length=255), nullable=False),
    sa.Column('ci_token_digest', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ci_token_digest'),
    sa.UniqueConstraint('namespace', 'path', name='uq_projects_namespace_path')
    )
    # users and projects point at each other: this key can only be added once both exist.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_users_bot_project_id', 'projects', ['bot_project_id'], ['id'], ondelete='CASCADE')
    op.create_table('ci_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('ci_system', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('web_url', sa.String(length=2000), nullable=False),
    sa.Column('pipeline_id', sa.String(length=255), nullable=False),
    sa.Column('pipeline_url', sa.String(length=2000), nullable=False),
    sa.Column('ref', sa.String(length=255), nullable=False),
    sa.Column('sha', sa.String(length=64), nullable=False),
    sa.Column('merge_request_iid', sa.String(length=64), nullable=False),
    sa.Column('merge_request_title', sa.String(length=1000), nullable=False),
    sa.Column('merge_request_url', sa.String(length=2000), nullable=False),
    sa.Column('status', sa.Enum('running', 'success', 'failed', 'canceled', name='jobstatus', native_enum=False, length=16), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_digest')
    )
    with op.batch_alter_table('ci_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_jobs_external_id'), ['external_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_jobs_project_id'), ['project_id'], unique=False)

    op.create_table('deploy_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('username', sa.String(length=255), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.Date(), nullable=True),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_digest')
    )
    with op.batch_alter_table('deploy_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deploy_tokens_project_id'), ['project_id'], unique=False)

    op.create_table('memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('access_level', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'user_id', name='uq_memberships_project_user')
    )
    op.create_table('packages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.String(length=255), nullable=False),
    sa.Column('package_type', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('default', 'hidden', 'pending_destruction', name='packagestatus', native_enum=False, length=32), nullable=False),
    sa.Column('creator_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('last_downloaded_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['creator_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('packages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_packages_project_id'), ['project_id'], unique=False)
        batch_op.create_index('uq_packages_live_name_version', ['project_id', 'package_type', 'name', 'version'], unique=True, sqlite_where=sa.text("status != 'pending_destruction'"), postgresql_where=sa.text("status != 'pending_destruction'"))

    op.create_table('project_features',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('feature', sa.String(length=64), nullable=False),
    sa.Column('access_level', sa.Enum('disabled', 'private', 'enabled', name='featureaccess', native_enum=False, length=16), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'feature', name='uq_project_features_project_feature')
    )
    op.create_table('package_build_infos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('ci_job_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ci_job_id'], ['ci_jobs.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['package_id'], ['packages.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('package_id', 'ci_job_id', name='uq_package_build_infos_package_job')
    )
    with op.batch_alter_table('package_build_infos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_package_build_infos_ci_job_id'), ['ci_job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_package_build_infos_package_id'), ['package_id'], unique=False)

    op.create_table('package_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('blob_id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=1024), nullable=False),
    sa.Column('status', sa.Enum('default', 'hidden', 'pending_destruction', name='packagestatus', native_enum=False, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['blob_id'], ['blobs.id'], ),
    sa.ForeignKeyConstraint(['package_id'], ['packages.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('package_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_package_files_blob_id'), ['blob_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_package_files_package_id'), ['package_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('fk_users_bot_project_id', type_='foreignkey')

    with op.batch_alter_table('package_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_package_files_package_id'))
        batch_op.drop_index(batch_op.f('ix_package_files_blob_id'))

    op.drop_table('package_files')
    with op.batch_alter_table('package_build_infos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_package_build_infos_package_id'))
        batch_op.drop_index(batch_op.f('ix_package_build_infos_ci_job_id'))

    op.drop_table('package_build_infos')
    op.drop_table('project_features')
    with op.batch_alter_table('packages', schema=None) as batch_op:
        batch_op.drop_index('uq_packages_live_name_version', sqlite_where=sa.text("status != 'pending_destruction'"), postgresql_where=sa.text("status != 'pending_destruction'"))
        batch_op.drop_index(batch_op.f('ix_packages_project_id'))

    op.drop_table('packages')
    op.drop_table('memberships')
    with op.batch_alter_table('deploy_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deploy_tokens_project_id'))

    op.drop_table('deploy_tokens')
    with op.batch_alter_table('ci_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_jobs_project_id'))
        batch_op.drop_index(batch_op.f('ix_ci_jobs_external_id'))

    op.drop_table('ci_jobs')
    op.drop_table('projects')
    op.drop_table('personal_access_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_bot_project_id'))

    op.drop_table('users')
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_uploads_expires_at'))

    op.drop_table('uploads')
    op.drop_table('blobs')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_project_created')

    op.drop_table('audit_events')
