"""The abuse limits of SPEC §5 as rate-limit rules, built from settings."""

from __future__ import annotations

from publicrooms.errors import (
    AdminLimitExceeded,
    ChatRateLimitExceeded,
    JoinLimitExceeded,
    RateLimitExceeded,
    ReportLimitExceeded,
    StatusLimitExceeded,
    TimerLimitExceeded,
)
from publicrooms.security.ratelimit import LimitRule
from publicrooms.settings import LimitSettings


def limit_rules(limits: LimitSettings) -> dict[str, LimitRule]:
    return {
        "rest": LimitRule("rest", limits.rest_per_minute, limits.window_s, limits.rest_block_s,
                          RateLimitExceeded),
        "chat": LimitRule("chat", limits.chat_per_minute, limits.window_s, limits.chat_block_s,
                          ChatRateLimitExceeded),
        "join": LimitRule("join", limits.join_per_minute, limits.window_s, limits.join_block_s,
                          JoinLimitExceeded),
        "report": LimitRule("report", limits.reports_per_window, limits.report_window_s,
                            limits.report_block_s, ReportLimitExceeded),
        "admin": LimitRule("admin", limits.admin_per_minute, limits.window_s,
                           limits.admin_block_s, AdminLimitExceeded),
        "timer": LimitRule("timer", limits.timer_actions_per_minute, limits.window_s,
                           limits.timer_block_s, TimerLimitExceeded),
        "status": LimitRule("status", limits.status_per_minute, limits.window_s,
                            limits.status_block_s, StatusLimitExceeded),
    }
