"""End to end: ``modelshelf serve`` (with SeaweedFS, PostgreSQL) driven by curl, python-gitlab, bash and schemathesis."""
