"""Users, rooms, participants and chat messages."""
import sqlalchemy as sa
from alembic import op

from publicrooms.store.migration_columns import create_table, ip_key, moment, room_id, text, uuid_column

revision = "0001"
down_revision = None


def upgrade() -> None:
    create_table(
        "users",
        uuid_column("id", primary_key=True),
        ip_key(),
        sa.Column("display_name", sa.String(100), nullable=False),
        moment("created_at"),
        moment("last_active_at"),
        sa.UniqueConstraint("ip_key", name="uq_users_ip_key"),
    )
    op.create_index("ix_users_last_active_at", "users", ["last_active_at"])
    create_table(
        "rooms",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        moment("created_at"),
    )
    create_table(
        "participants",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        room_id(),
        uuid_column("user_id"),
        moment("joined_at"),
        sa.Column("is_audio_enabled", sa.Boolean, nullable=False),
        sa.Column("is_video_enabled", sa.Boolean, nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE",
                                name="fk_participants_room_id_rooms"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_participants_user_id_users"),
        sa.UniqueConstraint("room_id", "user_id", name="uq_participants_room_user"),
    )
    op.create_index("ix_participants_room_id", "participants", ["room_id"])
    op.create_index("ix_participants_user_id", "participants", ["user_id"])
    create_table(
        "messages",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        uuid_column("id"),
        room_id(),
        uuid_column("user_id"),
        sa.Column("sender_name", sa.String(100), nullable=False),
        text("content"),
        moment("created_at"),
        sa.UniqueConstraint("id", name="uq_messages_id"),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], ondelete="CASCADE",
                                name="fk_messages_room_id_rooms"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_messages_user_id_users"),
        key="seq",
    )
    op.create_index("ix_messages_room_seq", "messages", ["room_id", "seq"])
    op.create_index("ix_messages_user_id", "messages", ["user_id"])


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("participants")
    op.drop_table("rooms")
    op.drop_table("users")
