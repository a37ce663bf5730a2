"""Alembic migrations produce exactly the models' schema, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from controller.db.models import Base
from controller.db.session import make_engine, migrate


def test_migrations_match_the_models(tmp_path, database_url):
    engine = make_engine(database_url or f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_audit_log_refuses_updates_and_deletes_in_the_database(tmp_path, database_url):
    import pytest
    import sqlalchemy

    from controller.db.models import AuditEntry
    from protocol.messages import utcnow

    engine = make_engine(database_url or f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.insert(AuditEntry).values(
                ts=utcnow(),
                actor="lan",
                action="broadcast.create",
                target="b-1",
                outcome="ok",
                ip="10.0.0.5",
                detail={},
            )
        )
    for statement in (
        sqlalchemy.update(AuditEntry).values(actor="x"),
        sqlalchemy.delete(AuditEntry),
    ):
        with (
            pytest.raises(sqlalchemy.exc.DatabaseError, match="append-only"),
            engine.begin() as conn,
        ):
            conn.execute(statement)
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.select(AuditEntry.actor)).scalars().all() == ["lan"]
    engine.dispose()
