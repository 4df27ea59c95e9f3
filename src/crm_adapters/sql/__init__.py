"""The SQL adapter: schema, ORM mapping, unit of work, read model and migrations (SQLAlchemy 2)."""
