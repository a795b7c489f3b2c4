"""Whether a database hands out an id again: what ``tests/unit/test_ids.py`` checks of the schema
the models make and ``tests/unit/test_migrations.py`` of the migrated one."""
from __future__ import annotations

from sqlalchemy import Integer, Table, inspect, text
from sqlalchemy.engine import Connection


def assigned_ids(table: Table) -> bool:
    """Whether the database assigns ``table``'s ids: one integer primary key column of its own (not a
    foreign key, as a version's registration, which shares its version's id)."""
    columns = list(table.primary_key.columns)
    return len(columns) == 1 and isinstance(columns[0].type, Integer) and not columns[0].foreign_keys


def never_reused(connection: Connection, table: str) -> bool:
    """Whether the database never hands out a deleted row's id of ``table`` again."""
    if connection.dialect.name == "sqlite":
        sql = connection.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table})
        return "AUTOINCREMENT" in sql.scalar_one().upper()
    [column] = [c for c in inspect(connection).get_columns(table) if c["name"] == "id"]
    # SERIAL (a sequence's nextval) or an identity column: PostgreSQL's sequences never go back.
    return "nextval(" in str(column.get("default") or "") or bool(column.get("identity"))
