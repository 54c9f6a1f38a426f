"""One owner per table: only the owning module names its tables in SQL, so a change to a
table's shape or meaning is made in one place."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWNERS = {
    "outbox": "core/outbox.py",
    "applications": "core/store/applications.py",
    "application_events": "core/store/applications.py",
    "exchange_log": "core/exchange_log.py",
    "users": "core/users.py",
    "clerk_sessions": "core/users.py",
    "admin_log": "core/admin_log.py",
}
SURFACES = ("core", "counter", "kiosk", "prereg", "web", "hardware", "printing", "bench", "scripts")


def naming_pattern(table: str) -> re.Pattern:
    """SQL naming the table (FROM/INTO/UPDATE/JOIN/TABLE/INDEXED BY idx_<table>) or sqlite-utils' db["table"]."""
    t = re.escape(table)
    return re.compile(rf"\b(FROM|INTO|UPDATE|JOIN|TABLE)\s+{t}\b|INDEXED\s+BY\s+idx_{t}_|"
                      rf"\bdb\s*\[\s*['\"]{t}['\"]\s*\]|\.table\(\s*['\"]{t}['\"]", re.IGNORECASE)


def offenders(table: str, sources: dict[str, str]) -> list[str]:
    pattern = naming_pattern(table)
    return [f"{path}:{text[:m.start()].count(chr(10)) + 1}" for path, text in sources.items()
            if path != OWNERS[table] for m in pattern.finditer(text)]


def project_sources() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
            for folder in SURFACES for p in sorted((ROOT / folder).rglob("*.py"))}


def test_only_the_owner_names_its_table_in_sql():
    sources = project_sources()
    assert "counter/forwarding.py" in sources and OWNERS["outbox"] in sources
    found = {table: offenders(table, sources) for table in OWNERS}
    assert found == {table: [] for table in OWNERS}


def test_the_check_sees_the_ways_a_table_is_named():
    sample = {
        "counter/a.py": 'db.query("SELECT * FROM outbox WHERE id = ?")',
        "counter/b.py": 'db["exchange_log"].count',
        "counter/c.py": '"SELECT 1 FROM application_events e JOIN applications a ON a.id = e.application_id"',
        "counter/d.py": ('"UPDATE outbox\\n SET state = 1"\n'
                         '"FROM applications a INDEXED BY idx_applications_created_at"'),
        "core/outbox.py": 'db["outbox"].create({})',
        "counter/e.py": '# the outbox holds personal data; applications from the kiosk',
    }
    assert offenders("outbox", sample) == ["counter/a.py:1", "counter/d.py:1"]
    assert offenders("exchange_log", sample) == ["counter/b.py:1"]
    assert offenders("applications", sample) == ["counter/c.py:1", "counter/d.py:2", "counter/d.py:2"]
    assert offenders("application_events", sample) == ["counter/c.py:1"]
