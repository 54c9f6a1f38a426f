"""手続きナビ: from the life event, a few yes/no answers and what is already known (the card's
birth date, the household typed in), the procedures a visit needs, each with its reason.

The rules are data (`navigator.toml` beside the procedures; a site folder's file of the same
name adds rules and questions or replaces those of the same id):

    [[questions]]                     # a yes/no question, asked only when a rule needs it
    id = "has_dog"
    life_events = ["moving_in"]
    text = { ja = "犬を飼っていますか", en = "Do you have a dog?", … }
    known_when = { member_age_under = 18 }   # optional: then it is "yes" without asking

    [[rules]]
    id = "inu_moving_in"
    procedure = "inu_toroku"
    life_events = ["moving_in"]
    when = { answer = "has_dog" }           # absent: always, for these life events
    reason = { ja = "犬を飼っている方は…", … }

Conditions: `{ answer = "q" }` (answered yes), `{ age_at_least = 75 }`, `{ age_under = 20 }`
(the applicant), `{ member_age_under = 18 }`, `{ member_age_between = [6, 15] }` (anyone in the
household, the applicant included), `{ id_card = "mynumber" }` (the card the visitor read at the
kiosk: mynumber or licence), `{ all = [...] }`, `{ any = [...] }`, `{ not = {...} }`.
A rule for a procedure the catalogue does not have (switched off by a site) is left out.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from core.errors import MadoguchiError

CONDITION_KEYS = {"answer", "age_at_least", "age_under", "member_age_under", "member_age_between", "id_card",
                  "all", "any", "not"}
ID_CARDS = ("mynumber", "licence")


class NavigatorError(MadoguchiError):
    code = "navigator_invalid"


@dataclass(frozen=True)
class Question:
    id: str
    text: dict
    life_events: tuple[str, ...]
    hint: dict = field(default_factory=dict)
    known_when: dict | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    procedure: str
    life_events: tuple[str, ...]
    reason: dict
    when: dict | None = None


@dataclass(frozen=True)
class Suggestion:
    """A procedure the visit needs, with the reasons (texts by language) of every rule that chose it."""

    procedure: str
    reasons: tuple[dict, ...]


@dataclass
class Facts:
    """What is known about the visit: the applicant's and the household's birth dates, and the answers."""

    birth_date: str | None = None
    household_birth_dates: list[str] = field(default_factory=list)
    answers: dict[str, bool] = field(default_factory=dict)
    today: date | None = None
    id_card: str | None = None        # the ID card read at the kiosk ("mynumber", "licence"), if any

    @classmethod
    def from_values(cls, values: dict[str, Any], answers: dict[str, bool] | None = None,
                    today: date | None = None, id_card: str | None = None) -> Facts:
        members = [m.get("birth_date") for m in values.get("household") or [] if isinstance(m, dict)]
        return cls(values.get("birth_date"), [b for b in members if b], dict(answers or {}), today, id_card)

    def _age(self, iso: str | None) -> int | None:
        if not iso:
            return None
        from core.clock import today_in_japan
        try:
            born = date.fromisoformat(iso)
        except ValueError:
            return None
        today = self.today or today_in_japan()
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @property
    def age(self) -> int | None:
        return self._age(self.birth_date)

    @property
    def ages(self) -> list[int]:
        """The applicant's and every household member's age that is known."""
        out = [self._age(b) for b in [self.birth_date, *self.household_birth_dates]]
        return [a for a in out if a is not None]


def holds(condition: dict | None, facts: Facts) -> bool:
    if not condition:
        return True
    for key, arg in condition.items():
        if key == "answer" and not facts.answers.get(arg):
            return False
        if key == "age_at_least" and not (facts.age is not None and facts.age >= arg):
            return False
        if key == "age_under" and not (facts.age is not None and facts.age < arg):
            return False
        if key == "member_age_under" and not any(a < arg for a in facts.ages):
            return False
        if key == "member_age_between" and not any(arg[0] <= a <= arg[1] for a in facts.ages):
            return False
        if key == "id_card" and facts.id_card != arg:
            return False
        if key == "all" and not all(holds(c, facts) for c in arg):
            return False
        if key == "any" and not any(holds(c, facts) for c in arg):
            return False
        if key == "not" and holds(arg, facts):
            return False
    return True


def _answers_in(condition: dict | None) -> set[str]:
    if not condition:
        return set()
    out = {condition["answer"]} if "answer" in condition else set()
    for key in ("all", "any"):
        for c in condition.get(key, []):
            out |= _answers_in(c)
    if "not" in condition:
        out |= _answers_in(condition["not"])
    return out


class Navigator:
    def __init__(self, questions: dict[str, Question], rules: dict[str, Rule]):
        self.questions = questions
        self.rules = rules

    def _rules_for(self, event: str, procedures: set[str]) -> list[Rule]:
        return [r for r in self.rules.values() if event in r.life_events and r.procedure in procedures]

    def questions_for(self, event: str, facts: Facts, procedures: set[str]) -> list[Question]:
        """The questions worth asking for this event (in file order), leaving out those the
        facts answer already (`known_when`) and those no rule of an offered procedure needs."""
        needed = set().union(*[_answers_in(r.when) for r in self._rules_for(event, procedures)])
        return [q for q in self.questions.values()
                if q.id in needed and event in q.life_events and not (q.known_when and holds(q.known_when, facts))]

    def with_known_answers(self, event: str, facts: Facts) -> Facts:
        """The facts, with "yes" for each question its `known_when` answers."""
        answers = dict(facts.answers)
        for q in self.questions.values():
            if event in q.life_events and q.known_when and holds(q.known_when, facts):
                answers[q.id] = True
        return Facts(facts.birth_date, facts.household_birth_dates, answers, facts.today, facts.id_card)

    def suggest(self, event: str, facts: Facts, procedures: set[str]) -> list[Suggestion]:
        """The procedures the event needs with these facts, each with its reasons, in rule order."""
        facts = self.with_known_answers(event, facts)
        found: dict[str, list[dict]] = {}
        for rule in self._rules_for(event, procedures):
            if holds(rule.when, facts):
                found.setdefault(rule.procedure, []).append(rule.reason)
        return [Suggestion(pid, tuple(reasons)) for pid, reasons in found.items()]


def starting_choice(required: tuple[str, ...] | list[str], suggested: list[str]) -> list[str]:
    """The procedures a procedures page starts with: the event's required ones, then the suggested."""
    return list(dict.fromkeys([*required, *suggested]))


def rechosen(chosen: list[str], before: list[str], after: list[str], required: tuple[str, ...] | list[str]
             ) -> list[str]:
    """The visitor's choice after an answer changed the suggestions from `before` to `after`: what
    it no longer suggests comes off (unless required), what it newly suggests goes on, and the
    visitor's own additions and removals stand."""
    dropped = set(before) - set(after)
    kept = [p for p in chosen if p not in dropped or p in required]
    return kept + [p for p in after if p not in before and p not in kept]


def _check_condition(condition: Any, where: str, questions: set[str]) -> None:
    if not isinstance(condition, dict) or not condition:
        raise NavigatorError(f"{where}: a condition is a table such as {{ answer = \"has_dog\" }}")
    unknown = set(condition) - CONDITION_KEYS
    if unknown:
        raise NavigatorError(f"{where}: unknown condition {sorted(unknown)} (use {', '.join(sorted(CONDITION_KEYS))})")
    for key, arg in condition.items():
        if key == "answer" and arg not in questions:
            raise NavigatorError(f"{where}: answer {arg!r} is not a question's id")
        if key in ("age_at_least", "age_under", "member_age_under") and (isinstance(arg, bool)
                                                                         or not isinstance(arg, int)):
            raise NavigatorError(f"{where}.{key}: must be a whole number of years")
        if key == "member_age_between" and not (isinstance(arg, list) and len(arg) == 2
                                                and all(isinstance(a, int) for a in arg)):
            raise NavigatorError(f"{where}.{key}: must be [youngest, oldest]")
        if key == "id_card" and arg not in ID_CARDS:
            raise NavigatorError(f"{where}.{key}: must be one of {', '.join(ID_CARDS)}")
        if key in ("all", "any"):
            if not isinstance(arg, list) or not arg:
                raise NavigatorError(f"{where}.{key}: must be a list of conditions")
            for i, c in enumerate(arg):
                _check_condition(c, f"{where}.{key}[{i}]", questions)
        if key == "not":
            _check_condition(arg, f"{where}.not", questions)


def load_navigator(files: list[Path], procedures: set[str], life_events: set[str],
                   switched_off: set[str] = frozenset()) -> Navigator:  # type: ignore[assignment]
    """The rules of the given files, later files adding to or replacing (by id) earlier ones.
    Rules of a procedure a site switched off are dropped; of an unknown one, refused."""
    raw_questions: dict[str, tuple[dict, Path]] = {}
    raw_rules: dict[str, tuple[dict, Path]] = {}
    for path in files:
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise NavigatorError(f"{path}: not valid TOML: {e}") from None
        unknown = set(data) - {"questions", "rules"}
        if unknown:
            raise NavigatorError(f"{path}: unknown keys {sorted(unknown)}")
        for q in data.get("questions", []):
            raw_questions[str(q.get("id"))] = (q, path)
        for r in data.get("rules", []):
            raw_rules[str(r.get("id"))] = (r, path)
    questions: dict[str, Question] = {}
    for qid, (q, path) in raw_questions.items():
        where = f"{path}: question {qid}"
        if set(q) - {"id", "text", "hint", "life_events", "known_when"} or not isinstance(q.get("text"), dict):
            raise NavigatorError(f"{where}: needs id, text (by language), life_events; may have hint, known_when")
        bad = set(q.get("life_events", [])) - life_events
        if bad:
            raise NavigatorError(f"{where}: unknown life events {sorted(bad)}")
        questions[qid] = Question(qid, q["text"], tuple(q.get("life_events", [])), q.get("hint", {}),
                                  q.get("known_when"))
    for q in questions.values():
        if q.known_when is not None:
            _check_condition(q.known_when, f"question {q.id}.known_when", set(questions))
    rules: dict[str, Rule] = {}
    for rid, (r, path) in raw_rules.items():
        where = f"{path}: rule {rid}"
        if set(r) - {"id", "procedure", "life_events", "when", "reason"} or not isinstance(r.get("reason"), dict) \
                or not isinstance(r.get("procedure"), str):
            raise NavigatorError(f"{where}: needs id, procedure, life_events, reason (by language); may have when")
        bad = set(r.get("life_events", [])) - life_events
        if bad:
            raise NavigatorError(f"{where}: unknown life events {sorted(bad)}")
        if r.get("when") is not None:
            _check_condition(r["when"], f"{where}.when", set(questions))
        if r["procedure"] not in procedures:
            if r["procedure"] in switched_off:
                continue
            raise NavigatorError(f"{where}: unknown procedure {r['procedure']}")
        if r["procedure"] in procedures:
            rules[rid] = Rule(rid, r["procedure"], tuple(r.get("life_events", [])), r["reason"], r.get("when"))
    return Navigator(questions, rules)


def guide_record(life_event: Any, answers: Any, catalogue) -> dict[str, Any] | None:
    """What an application keeps of the guide (its audit event `guide`, a pre-registration's
    envelope): the life event and the yes/no answers, checked; None when there is nothing."""
    if not isinstance(life_event, str) or life_event not in catalogue.life_events:
        return None
    if not isinstance(answers, dict):
        answers = {}
    kept = {q: a for q, a in answers.items() if q in catalogue.navigator.questions and isinstance(a, bool)}
    return {"life_event": life_event, "answers": kept}


def recorded_guide(raw: Any, catalogue) -> dict[str, Any] | None:
    """A guide record as it arrives (a pre-registration's envelope, a kiosk PC's upload, an audit
    event), checked like a new one; anything else is None."""
    return guide_record(raw.get("life_event"), raw.get("answers"), catalogue) if isinstance(raw, dict) else None


def explain(record: Any, values: dict[str, Any], catalogue) -> list[Suggestion]:
    """The guide's suggestions for an application, from its recorded answers and its values (the
    birth dates as they stand now), for the clerk."""
    record = recorded_guide(record, catalogue)
    if record is None:
        return []
    event = catalogue.event(record["life_event"])
    facts = Facts.from_values(values, record["answers"])
    return catalogue.navigator.suggest(event.id, facts, set(event.procedures))
