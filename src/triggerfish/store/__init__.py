"""Storage: SQLAlchemy Core tables, Alembic migrations, the queries of the engine and the API."""
