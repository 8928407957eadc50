"""Suspicious-activity events (abuse-limit violations).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suspicious_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ip_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_suspicious_events"),
    )
    op.create_index("ix_suspicious_events_ip_key", "suspicious_events", ["ip_key"])
    op.create_index("ix_suspicious_events_created_at", "suspicious_events", ["created_at"])


def downgrade() -> None:
    op.drop_table("suspicious_events")
