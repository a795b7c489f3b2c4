"""The model registry plugin: projects generic packages into models and versions.

It will register through the ``package_api.plugins`` entry point (the model registry issue);
until then it adds nothing, and ``package_api`` runs without it.
"""
