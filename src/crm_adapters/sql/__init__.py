"""The SQL adapter: schema, ORM mapping, unit of work, read model and migrations (SQLAlchemy 2)."""

from crm_adapters.sql.database import Database, open_database

__all__ = ["Database", "open_database"]
