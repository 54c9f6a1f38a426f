"""The wizard's state and its order of questions (no Flask here, so it is easy to test).

A draft is a plain dict, stored encrypted between requests (prereg.drafts):

    {"event": "moving_in" | "other" | None, "procedures": [...],
     "values": {...JSON-form values...}, "visited": [...field names...],
     "parts": {"address": ["東京都千代田区千代田", "1-1"]},
     "guide": {"has_child": true, ...}, "guided": true}

After the life event, 手続きナビ (core.navigator) asks its yes/no questions ("guide"); the
procedures page then starts with the event's required procedures and those the answers
call for ("guided" once done, so the resident's own choice is never overwritten).

The questions are the fields the chosen procedures need (`catalogue.fields_for`), in
catalogue order, skipping those whose `when` fails. The next question is the first one
not yet visited, so after a change from the check-answers page the resident is taken
only to questions that the change made necessary, then back to the check page.
"""
from __future__ import annotations

import copy
from typing import Any

from core.catalogue import Catalogue, FieldDef
from core.forms import prune_inapplicable
from core.navigator import Facts, Question, rechosen, starting_choice

OTHER_EVENT = "other"


def empty() -> dict[str, Any]:
    return {"event": None, "procedures": [], "values": {}, "visited": [], "parts": {}, "guide": {}, "guided": False}


class Flow:
    def __init__(self, catalogue: Catalogue, data: dict[str, Any] | None = None):
        self.catalogue = catalogue
        self.data = copy.deepcopy(data) if data else empty()
        for key, value in empty().items():
            self.data.setdefault(key, value)

    # --- reading ----------------------------------------------------------------------
    @property
    def procedures(self) -> list[str]:
        return [p for p in self.data["procedures"] if p in self.catalogue.procedures]

    @property
    def values(self) -> dict[str, Any]:
        return self.data["values"]

    @property
    def event(self) -> str | None:
        return self.data["event"]

    def offered_procedures(self) -> list[str]:
        """The procedures the procedures page offers: the event's, or all of them."""
        ev = self.catalogue.life_events.get(self.event or "")
        return list(ev.procedures) if ev else list(self.catalogue.procedures)

    # --- 手続きナビ --------------------------------------------------------------------
    def facts(self) -> Facts:
        return Facts.from_values(self.values, {k: bool(v) for k, v in self.data["guide"].items()})

    def guide_questions(self) -> list[Question]:
        if not self.catalogue.life_events.get(self.event or ""):
            return []
        return self.catalogue.navigator.questions_for(self.event or "", self.facts(), set(self.offered_procedures()))

    def next_guide_question(self) -> Question | None:
        return next((q for q in self.guide_questions() if q.id not in self.data["guide"]), None)

    def suggestions(self) -> dict[str, tuple[dict, ...]]:
        """procedure id → the reasons 手続きナビ gives for it (empty without a life event)."""
        if not self.catalogue.life_events.get(self.event or ""):
            return {}
        found = self.catalogue.navigator.suggest(self.event or "", self.facts(), set(self.offered_procedures()))
        return {s.procedure: s.reasons for s in found}

    def answer_guide(self, question_id: str, yes: bool) -> None:
        """Record an answer. Changed after the procedures were chosen, it adds what it now calls
        for and takes off what it no longer does, leaving the resident's other choices as they are."""
        before = list(self.suggestions())
        self.data["guide"][question_id] = yes
        if self.data["guided"]:
            ev = self.catalogue.life_events.get(self.event or "")
            self.set_procedures(rechosen(self.procedures, before, list(self.suggestions()), ev.required if ev else ()))
        elif self.next_guide_question() is None:
            self.finish_guide()

    def finish_guide(self) -> None:
        """Start the procedures page with the event's required procedures and the suggested ones
        (once: after that the resident's own choice stands)."""
        if self.data["guided"]:
            return
        ev = self.catalogue.life_events.get(self.event or "")
        self.set_procedures(starting_choice(ev.required if ev else (), list(self.suggestions())))
        self.data["guided"] = True

    def fields(self) -> list[FieldDef]:
        """The questions that apply now, in order."""
        if not self.procedures:
            return []
        return [f for f in self.catalogue.fields_for(self.procedures) if f.applies(self.values)]

    def field(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields() if f.name == name), None)

    def next_field(self) -> FieldDef | None:
        visited = set(self.data["visited"])
        return next((f for f in self.fields() if f.name not in visited), None)

    def previous_field(self, name: str) -> FieldDef | None:
        fields = self.fields()
        names = [f.name for f in fields]
        if name not in names:
            return None
        i = names.index(name)
        return fields[i - 1] if i > 0 else None

    def complete(self) -> bool:
        return bool(self.procedures) and self.next_field() is None

    def json_form(self) -> dict[str, Any]:
        applicable = {f.name for f in self.fields()}
        return {"procedures": self.procedures,
                **{k: copy.deepcopy(v) for k, v in self.values.items() if k in applicable}}

    # --- changing ---------------------------------------------------------------------
    def set_event(self, event_id: str) -> None:
        """Choosing an event pre-selects its required procedures and sets its presets."""
        if event_id == self.event and self.procedures:
            return
        old = self.catalogue.life_events.get(self.event or "")
        if old:  # presets of the previous event are not the resident's answers
            for name in old.presets:
                self.values.pop(name, None)
                self._unvisit(name)
        self.data["event"] = event_id
        self.data["guide"], self.data["guided"] = {}, False
        ev = self.catalogue.life_events.get(event_id)
        self.data["procedures"] = list(ev.required) if ev else []
        if ev:
            for name, value in ev.presets.items():
                self.values[name] = value
                self._visit(name)
        self._prune()

    def set_procedures(self, procedure_ids: list[str]) -> None:
        self.data["procedures"] = [p for p in dict.fromkeys(procedure_ids) if p in self.catalogue.procedures]
        self._prune()

    def answer(self, name: str, value: Any) -> None:
        """Record an answer (None or "" = left empty) and mark the question visited."""
        if value is None or value == "" or value == []:
            self.values.pop(name, None)
        else:
            self.values[name] = value
        self._visit(name)
        self._prune()

    def set_parts(self, name: str, parts: list[str] | None) -> None:
        if parts is None:
            self.data["parts"].pop(name, None)
        else:
            self.data["parts"][name] = parts

    def parts(self, name: str) -> list[str] | None:
        return self.data["parts"].get(name)

    def unvisit(self, name: str) -> None:
        """Ask a question again (e.g. the address after its postal code changed)."""
        self._unvisit(name)

    def _visit(self, name: str) -> None:
        if name not in self.data["visited"]:
            self.data["visited"].append(name)

    def _unvisit(self, name: str) -> None:
        if name in self.data["visited"]:
            self.data["visited"].remove(name)

    def _prune(self) -> None:
        """Forget answers the chosen procedures or the other answers no longer ask for."""
        if not self.procedures:
            return
        wanted = {f.name for f in self.catalogue.fields_for(self.procedures)}
        values = {k: v for k, v in self.values.items() if k in wanted}
        kept = prune_inapplicable(values, self.catalogue, self.procedures)
        self.data["values"] = kept
        applicable = {f.name for f in self.fields()}
        # A question that stopped applying is asked again if it comes back.
        self.data["visited"] = [n for n in self.data["visited"] if n in applicable]
        self.data["parts"] = {k: v for k, v in self.data["parts"].items() if k in applicable}
