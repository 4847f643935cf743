"""The SQLite store: schema and migrations, atomic imports, queries."""
