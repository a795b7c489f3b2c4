"""The HTML pages through Flask's test client."""
