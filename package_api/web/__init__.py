"""The HTTP surfaces: the ``/api/v4`` JSON API (``api``), the HTML pages (``pages``), their
templates and static files, the OpenAPI document, and which surface answers an error (``errors``)."""
