"""The plugin's HTTP surfaces: the model registry REST API (``api``), its pages (``pages``), the
MLflow-compatible API (``mlflow``), with their templates, static files and OpenAPI piece."""
