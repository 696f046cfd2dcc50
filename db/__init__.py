"""Storage: SQLModel tables, the engine, the unit of work, repositories and migrations."""
