"""Room timers: each room's shared focus timer, so it survives a restart."""
import sqlalchemy as sa
from alembic import op

from publicrooms.store.migration_columns import create_table, moment, room_id, text

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    create_table(
        "room_timers",
        room_id(),
        text("state"),
        sa.Column("version", sa.Integer, nullable=False),
        moment("updated_at"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE",
                                name="fk_room_timers_room_id_rooms"),
        key="room_id",
    )


def downgrade() -> None:
    op.drop_table("room_timers")
