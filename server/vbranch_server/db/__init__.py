"""The CRM's database: tables, engine and migrations (SQLite embedded, PostgreSQL in production)."""
