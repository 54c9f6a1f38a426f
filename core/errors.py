"""Errors with machine codes, so every surface can show its own words for them."""
from __future__ import annotations


class MadoguchiError(Exception):
    """Base error: `code` is stable and machine-readable; the message is for logs and the CLI.

    Messages must never contain personal data (names, addresses, PINs, 個人番号).
    """

    code = "error"

    def __init__(self, message: str, code: str | None = None, **details):
        super().__init__(message)
        if code:
            self.code = code
        self.details = details


class ConfigError(MadoguchiError):
    code = "config_invalid"

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message, key=key)
        self.key = key


class TransitionError(MadoguchiError):
    code = "illegal_transition"


class NotFound(MadoguchiError):
    code = "not_found"


class FieldError:
    """One field's problem: `field` is a JSON-form path like `household[1].birth_date`."""

    __slots__ = ("field", "code", "message", "params")

    def __init__(self, field: str, code: str, message: str, **params):
        self.field, self.code, self.message, self.params = field, code, message, params

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message,
                **({"params": self.params} if self.params else {})}

    def __repr__(self):
        return f"FieldError({self.field!r}, {self.code!r})"


class ValidationError(MadoguchiError):
    code = "invalid"

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"invalid application: {summary}")

    def by_field(self) -> dict[str, FieldError]:
        return {e.field: e for e in self.errors}
