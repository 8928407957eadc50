"""Room timers: each room's shared focus timer, so it survives a restart.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_timers",
        sa.Column("room_id", sa.String(64), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE",
                                name="fk_room_timers_room_id_rooms"),
        sa.PrimaryKeyConstraint("room_id", name="pk_room_timers"),
    )


def downgrade() -> None:
    op.drop_table("room_timers")
