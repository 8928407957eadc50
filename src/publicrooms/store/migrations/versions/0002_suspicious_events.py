"""Suspicious-activity events (abuse-limit violations)."""
import sqlalchemy as sa
from alembic import op

from publicrooms.store.migration_columns import create_table, ip_key, moment, serial_id, text

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    create_table(
        "suspicious_events",
        serial_id(),
        ip_key(),
        sa.Column("kind", sa.String(64), nullable=False),
        text("detail"),
        moment("created_at"),
    )
    op.create_index("ix_suspicious_events_ip_key", "suspicious_events", ["ip_key"])
    op.create_index("ix_suspicious_events_created_at", "suspicious_events", ["created_at"])


def downgrade() -> None:
    op.drop_table("suspicious_events")
