"""Moderation: reports, bans and the operator audit log."""
import sqlalchemy as sa
from alembic import op

from publicrooms.store.migration_columns import create_table, ip_key, moment, room_id, serial_id, text, uuid_column

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    create_table(
        "reports",
        uuid_column("id"),
        room_id(),
        uuid_column("reporter_user_id"),
        ip_key("reporter_ip_key"),
        uuid_column("target_user_id"),
        ip_key("target_ip_key"),
        sa.Column("target_name", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        text("text"),
        moment("created_at"),
        moment("resolved_at", nullable=True),
        text("resolution"),
    )
    for column in ("reporter_ip_key", "target_user_id", "target_ip_key", "created_at"):
        op.create_index(f"ix_reports_{column}", "reports", [column])
    create_table(
        "bans",
        serial_id(),
        ip_key(),
        text("reason"),
        text("public_reason"),
        moment("created_at"),
        moment("expires_at", nullable=True),
        moment("lifted_at", nullable=True),
        sa.Column("created_by", sa.String(32), nullable=False),
    )
    op.create_index("ix_bans_ip_key", "bans", ["ip_key"])
    create_table(
        "audit_log",
        serial_id(),
        sa.Column("token_id", sa.String(32), nullable=False),
        ip_key(),
        sa.Column("action", sa.String(200), nullable=False),
        text("detail"),
        sa.Column("status", sa.Integer, nullable=False),
        moment("created_at"),
    )
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("bans")
    op.drop_table("reports")
