"""The model registry as MLflow sees it: registered models with tags and aliases, versions numbered
by sequence with stages and sources, the run each version has, and what a version's card shows."""
