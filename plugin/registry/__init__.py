"""The model registry: models and versions (a version is a generic package), the mapping that
projects packages into them, their access rules and audit entries."""
