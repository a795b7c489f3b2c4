"""Running it: the ``modelshelf`` command, the server, schema migrations, health, metrics and logs."""
