"""Ratings of a visit (five faces) from the kiosk's done screen and prereg's done page, for the
plan's "satisfied with the counter ≥ 90%". A rating is never linked to a person: it keeps the
day (Japan's), where it was given and the score, an optional comment, and nothing else — no
application, no visit, no time of day that could be matched with an application's."""
from __future__ import annotations

import re
import secrets
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date

import sqlite_utils
from sqlite_utils.migrations import Migrations

from core.clock import today_in_japan
from core.errors import MadoguchiError
from core.store.db import write

migrations = Migrations("core.satisfaction")
SCORES = (5, 4, 3, 2, 1)          # very satisfied … very dissatisfied
SATISFIED = (5, 4)
CHANNELS = ("kiosk", "prereg")
MAX_COMMENT = 400


class RatingRefused(MadoguchiError):
    code = "rating_refused"


@migrations()
def m001_ratings(db: sqlite_utils.Database) -> None:
    # A random key, so the order of the rows says nothing about the order of the visits.
    db.table("ratings").create({"id": str, "day": str, "channel": str, "office": str, "score": int,
                                "comment": str}, pk="id", not_null={"day", "channel", "score"})
    db.table("ratings").create_index(["day"])


@migrations()
def m002_figures_indexes(db: sqlite_utils.Database) -> None:
    # A year of ratings on the figures page: each count from a range of the index alone (no
    # sorting a year's ratings to group them), and the few comments without reading every rating.
    db.execute("CREATE INDEX idx_ratings_score_channel_day ON ratings (score, channel, day)")
    db.execute("CREATE INDEX idx_ratings_commented_day ON ratings (day) WHERE comment != ''")


def clean_comment(text: object) -> str:
    """The comment as kept: NFC, no control characters, at most MAX_COMMENT characters."""
    if not isinstance(text, str):
        return ""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n" or unicodedata.category(ch)[0] != "C")
    return text.strip()[:MAX_COMMENT]


def rate(db: sqlite_utils.Database, *, channel: str, score: object, comment: object = "", office: str = "",
         day: date | None = None) -> None:
    """Keep one rating. Raises RatingRefused (code `bad_score` or `bad_channel`)."""
    if channel not in CHANNELS:
        raise RatingRefused("unknown channel", code="bad_channel")
    try:
        value = int(str(score)) if str(score).isascii() else None
    except ValueError:
        value = None
    if value not in SCORES:
        raise RatingRefused("a score is 1 to 5", code="bad_score")
    with write(db):
        db.execute("INSERT INTO ratings (id, day, channel, office, score, comment) VALUES (?, ?, ?, ?, ?, ?)",
                   [secrets.token_hex(12), (day or today_in_japan()).isoformat(), channel, str(office)[:40], value,
                    clean_comment(comment)])


# --- ratings given on a separate prereg server ---------------------------------------------------
# The office's figures count them too: it collects them over the prereg API (office API key) and
# the prereg server forgets each one the office has acknowledged, so none is lost or counted twice.
COLLECT_BATCH = 500
RATING_ID = re.compile(r"^[0-9a-f]{24}$")


def uncollected(db: sqlite_utils.Database, limit: int = COLLECT_BATCH) -> list[dict]:
    """(prereg server) Ratings not yet collected by the office: the rows as kept, no more."""
    if not db["ratings"].exists():
        return []
    return [dict(r) for r in db.query("SELECT id, day, channel, office, score, comment FROM ratings"
                                      " WHERE channel = 'prereg' ORDER BY day, id LIMIT ?", [limit])]


def forget_collected(db: sqlite_utils.Database, ids: list[str]) -> int:
    """(prereg server) Delete the ratings the office has kept."""
    ids = [i for i in ids if isinstance(i, str) and RATING_ID.match(i)][:COLLECT_BATCH]
    if not ids:
        return 0
    with write(db):
        return db.execute(f"DELETE FROM ratings WHERE channel = 'prereg' AND id IN ({','.join('?' * len(ids))})",
                          ids).rowcount


def keep_collected(db: sqlite_utils.Database, rows: list) -> list[str]:
    """(office) Keep ratings collected from the prereg server under their own ids (a batch sent
    again is kept once); returns the ids to acknowledge. A row that is not a rating is skipped."""
    kept = []
    with write(db):
        for row in rows:
            if not isinstance(row, dict) or not RATING_ID.match(str(row.get("id", ""))):
                continue
            try:
                day = date.fromisoformat(str(row.get("day")))
            except ValueError:
                continue
            if row.get("channel") != "prereg" or row.get("score") not in SCORES:
                continue
            db.execute("INSERT INTO ratings (id, day, channel, office, score, comment)"
                       " VALUES (?, ?, 'prereg', '', ?, ?) ON CONFLICT (id) DO NOTHING",
                       [row["id"], day.isoformat(), row["score"], clean_comment(row.get("comment", ""))])
            kept.append(row["id"])
    return kept


def collect_from_prereg(config, db: sqlite_utils.Database, *, timeout: float = 10.0) -> int:
    """(office) Fetch the prereg server's ratings, keep them, acknowledge them; repeated until none
    is left. Raises core.sealed.PreregUnavailable when the server cannot be reached or refuses."""
    import requests

    from core.keys import office_api_key
    from core.sealed import PreregUnavailable

    url = config.prereg.server_url.rstrip("/") + "/prereg/api/v1/ratings"
    headers = {"Authorization": f"Bearer {office_api_key(config)}", "Accept": "application/json"}
    total = 0
    while True:
        try:
            r = requests.get(url, headers=headers, timeout=timeout)
            if r.status_code in (401, 403):
                raise PreregUnavailable("the prereg server refused the office API key", code="prereg_unauthorized")
            rows = r.json().get("ratings") if r.status_code == 200 else None
            if not isinstance(rows, list):
                raise PreregUnavailable(f"the prereg server answered {r.status_code}", code="prereg_bad_answer")
            kept = keep_collected(db, rows)
            if kept:
                requests.post(url + "/collected", json={"ids": kept}, headers=headers, timeout=timeout)
        except requests.RequestException as e:
            raise PreregUnavailable(f"the prereg server could not be reached ({type(e).__name__})") from None
        except ValueError:
            raise PreregUnavailable("the prereg server's answer was not understood", code="prereg_bad_answer") from None
        total += len(kept)
        if len(rows) < COLLECT_BATCH or not kept:
            return total


@dataclass
class Satisfaction:
    counts: dict[int, int]              # score → ratings
    by_channel: dict[str, int]
    comments: list[tuple[str, int, str]]   # (day, score, comment), newest first

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def satisfied_share(self) -> float | None:
        """The share of ratings of 4 or 5 (the plan's target: 90% or more)."""
        return sum(self.counts.get(s, 0) for s in SATISFIED) / self.total if self.total else None


def summary(db: sqlite_utils.Database, start: date, end: date, *, comments: int = 20) -> Satisfaction:
    """The ratings of the days start..end (inclusive)."""
    counts: Counter[int] = Counter()
    channels: Counter[str] = Counter()
    if not db["ratings"].exists():
        return Satisfaction({s: 0 for s in SCORES}, {}, [])
    bounds = [start.isoformat(), end.isoformat()]
    for score in SCORES:
        for channel in CHANNELS:
            (n,) = db.execute("SELECT COUNT(*) FROM ratings WHERE score = ? AND channel = ? AND day BETWEEN ? AND ?",
                              [score, channel, *bounds]).fetchone()
            counts[score] += n
            channels[channel] += n
    recent = [(r["day"], r["score"], r["comment"]) for r in db.query(
        "SELECT day, score, comment FROM ratings WHERE day BETWEEN ? AND ? AND comment != ''"
        " ORDER BY day DESC LIMIT ?", [*bounds, comments])]
    return Satisfaction({s: counts.get(s, 0) for s in SCORES}, dict(channels), recent)
