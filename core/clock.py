"""Japan's time: every screen, log view and printed form shows it, wherever the server's clock
is set (a cloud server or a container often runs on UTC). Times are stored in UTC."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

JAPAN = ZoneInfo("Asia/Tokyo")


def now_in_japan() -> datetime:
    return datetime.now(JAPAN)


def today_in_japan() -> date:
    """The day in Japan: the 届出日 on a form, the day a reception number counts in."""
    return now_in_japan().date()


def in_japan(dt: datetime) -> datetime:
    """An aware time as Japan's clock shows it (a naive one is taken as UTC, as stored)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(JAPAN)


def seconds_since(stored: str | None) -> float | None:
    """How long ago a stored (ISO, UTC) time was, never negative; None for no time."""
    if stored is None:
        return None
    return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(stored)).total_seconds())

