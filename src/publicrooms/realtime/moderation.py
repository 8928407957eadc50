"""`report-user` in room namespaces: a participant reports someone from the people list."""

from __future__ import annotations

from typing import Any

import socketio

from publicrooms.realtime.gateway import Gateway
from publicrooms.schemas.base import parse
from publicrooms.schemas.moderation import ReportPayload
from publicrooms.security.sanitize import clean_message
from publicrooms.services.moderation import ModerationService


def register_reports(sio: socketio.AsyncServer, gateway: Gateway,
                     moderation: ModerationService) -> None:
    ctx = gateway.ctx

    @gateway.on("report-user")
    async def report_user(namespace: str, sid: str, data: Any = None) -> dict:
        conn = gateway.seated(sid)
        payload = parse(ReportPayload, data)
        # Filing reports too fast is itself a violation (recorded as suspicious activity).
        await ctx.limit("report", conn.ip_key)
        text = (clean_message(payload.text, ctx.settings.report_text_max)
                if payload.text.strip() else "")
        record = await moderation.report(
            room_id=conn.room_id, reporter_id=conn.user_id, reporter_ip_key=conn.ip_key,
            target_user_id=payload.user_id, reason=payload.reason, text=text)
        return {"success": True, "reportId": record.id}
