"""The ``/api/v4`` JSON API through Flask's test client, and what all routes share: authentication,
the audit trail, the operations endpoints (``/-/health``...) and the permission matrix of every route."""
