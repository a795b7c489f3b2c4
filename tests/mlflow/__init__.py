"""The MLflow REST API: through Flask's test client, and the real ``mlflow`` client against ``modelshelf serve``."""
