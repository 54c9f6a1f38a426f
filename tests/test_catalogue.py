import tomllib

import pytest

from core.catalogue import BUILTIN_DIR, CatalogueError, load_catalogue
from core.config import LANGUAGE_CODES

REQUIRED = ["juminido", "juminhyo", "inkan_toroku", "inkan_shomei", "zei_shomei", "jido_teate"]


def test_ships_the_required_procedures_and_life_events():
    cat = load_catalogue()
    assert set(REQUIRED) <= set(cat.procedures)
    assert {"moving_in", "certificates"} <= set(cat.life_events)
    assert "juminido" in cat.event("moving_in").procedures
    assert "juminhyo" in cat.event("certificates").procedures
    assert cat.event("moving_in").presets["move_type"] == "tennyu"


def _text_tables(obj, path=""):
    if isinstance(obj, dict):
        if obj and set(obj) & {"ja", "en"}:
            yield path, obj
        else:
            for k, v in obj.items():
                yield from _text_tables(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _text_tables(v, f"{path}[{i}]")


@pytest.mark.parametrize("path", sorted(BUILTIN_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_every_text_is_in_all_seven_languages(path):
    data = tomllib.loads(path.read_text("utf-8"))
    tables = list(_text_tables(data))
    assert tables
    for where, table in tables:
        assert set(table) == set(LANGUAGE_CODES), f"{path.name}{where}"
        assert all(v for v in table.values()), f"{path.name}{where} has an empty text"


def test_fields_for_lists_person_fields_then_each_procedures_own_once():
    cat = load_catalogue()
    names = [f.name for f in cat.fields_for(["juminido", "jido_teate"])]
    assert names[:4] == ["name", "kana", "birth_date", "sex"]
    assert "household" in names and "move_type" in names and "bank_name" in names
    assert len(names) == len(set(names))


def test_conditional_fields():
    cat = load_catalogue()
    prev = cat.field("previous_address")
    assert prev.applies({"move_type": "tennyu"})
    assert not prev.applies({"move_type": "tenshutsu"})


def test_a_city_can_add_a_procedure_as_a_file(tmp_path):
    (tmp_path / "pet.toml").write_text('''
id = "pet"
names = { ja = "犬の登録", en = "Dog registration" }
person_fields = ["name", "address"]
[[fields]]
name = "dog_name"
type = "text"
required = true
label = { ja = "犬の名前", en = "Dog's name" }
''', encoding="utf-8")
    cat = load_catalogue([tmp_path])
    assert cat.get("pet").name("en") == "Dog registration"
    assert [f.name for f in cat.fields_for(["pet"])] == ["name", "address", "dog_name"]


def test_a_broken_procedure_file_is_refused_with_its_name(tmp_path):
    (tmp_path / "bad.toml").write_text('id = "bad"\n[[fields]]\nname = "x"\ntype = "colour"\n')
    with pytest.raises(CatalogueError, match="bad.toml"):
        load_catalogue([tmp_path])
