"""Column shapes and the table call the Alembic migrations share.

A migration that has run is history: never change a shape here that one of them uses (add a new
helper instead), or a fresh database would no longer get the schema an old one has.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def create_table(name: str, *columns: sa.Column | sa.Constraint, key: str = "id") -> None:
    """A table whose primary key (on `key`) is named pk_<table>."""
    op.create_table(name, *columns, sa.PrimaryKeyConstraint(key, name=f"pk_{name}"))


def serial_id() -> sa.Column:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def uuid_column(name: str, **options: object) -> sa.Column:
    return sa.Column(name, sa.String(36), nullable=False, **options)


def ip_key(name: str = "ip_key") -> sa.Column:
    """An IP key (HMAC-SHA256 hex of an address, never the address)."""
    return sa.Column(name, sa.String(64), nullable=False)


def room_id() -> sa.Column:
    return sa.Column("room_id", sa.String(64), nullable=False)


def moment(name: str = "created_at", nullable: bool = False) -> sa.Column:
    """A point in time, always with its time zone."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def text(name: str) -> sa.Column:
    return sa.Column(name, sa.Text, nullable=False)
