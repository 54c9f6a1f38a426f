from core.store.applications import ApplicationStore
from tests.helpers import madoguchi, own_connection, write_config


def test_procedures_list_shows_id_japanese_and_english():
    result = madoguchi("procedures", "list")
    assert result.returncode == 0, result.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines()}
    assert rows["juminhyo"][1] == "住民票の写し等交付申請書"
    assert rows["juminhyo"][2].isascii() and rows["juminhyo"][2]
    assert {"juminido", "juminhyo", "inkan_toroku", "inkan_shomei", "zei_shomei", "jido_teate"} <= set(rows)


def test_procedures_show():
    result = madoguchi("procedures", "show", "juminido")
    assert result.returncode == 0
    assert "住民異動届" in result.stdout and "move_type" in result.stdout


def test_unknown_procedure_is_one_line():
    result = madoguchi("procedures", "show", "nosuch")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: unknown procedure: nosuch"


def test_init_creates_database_keys_and_demo_data_once(config, config_file, tmp_path, db):
    first = madoguchi("init", config_file=config_file, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "demo data" in first.stdout
    count = ApplicationStore(db).count()
    assert count >= 2
    assert (tmp_path / "var" / "keys" / "session.key").stat().st_mode & 0o077 == 0
    again = madoguchi("init", config_file=config_file, cwd=tmp_path)
    assert again.returncode == 0 and ApplicationStore(db).count() == count


def test_init_creates_every_surfaces_tables(config, overrides, tmp_path, engine, request):
    if engine == "postgresql":   # a new, empty database: the tests' own are copies of a migrated one
        server = request.getfixturevalue("postgres_server")
        config = config.replace({"storage": {"url": server.url(server.new_database())}})
    assert db_tables(config) == set()
    config_file = write_config(tmp_path / "init.toml", overrides(storage={"url": config.storage.url}))
    assert madoguchi("init", "--no-demo", config_file=config_file, cwd=tmp_path).returncode == 0
    tables = db_tables(config)
    assert {"applications", "application_events", "sealed_applications", "exchange_log", "outbox", "users",
            "prereg_drafts", "reception_counters", "kiosk_uploads", "kiosk_pairing_codes", "kiosk_devices"} <= tables


def db_tables(config) -> set[str]:
    db = own_connection(config)
    try:
        return set(db.table_names())
    finally:
        db.conn.close()


def test_the_licence_file_is_the_one_pyproject_declares():
    import tomllib

    from tests.helpers import ROOT
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["license"] == "AGPL-3.0-or-later" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in text and "Version 3" in text
