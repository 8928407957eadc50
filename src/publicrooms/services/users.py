"""Anonymous users: one per IP key, named by a display name."""

from __future__ import annotations

from publicrooms.clock import Clock
from publicrooms.errors import InvalidUser
from publicrooms.security.sanitize import clean_display_name
from publicrooms.state.activity import ActivityStore
from publicrooms.store.sql import SqlStore, UserRecord


class UserService:
    def __init__(self, *, sql: SqlStore, clock: Clock, display_name_max: int,
                 activity: ActivityStore) -> None:
        self._sql = sql
        self._activity = activity
        self._clock = clock
        self._display_name_max = display_name_max

    async def create_user(self, *, ip_key: str, display_name: object) -> UserRecord:
        """The user of this IP key, created or given the new display name."""
        name = clean_display_name(display_name, self._display_name_max)
        user = await self._sql.upsert_user(ip_key=ip_key, display_name=name,
                                           now=self._clock.now())
        await self._activity.touch(user.id)
        return user

    async def resolve_user(self, *, ip_key: str, user_id: str | None) -> UserRecord:
        """The caller's own user; naming anyone else's id is refused."""
        if user_id is None:
            user = await self._sql.get_user_by_ip_key(ip_key)
        else:
            user = await self._sql.get_user(user_id)
        if user is None or user.ip_key != ip_key:
            raise InvalidUser()
        await self._activity.touch(user.id)
        return user
