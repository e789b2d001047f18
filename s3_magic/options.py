"""Typed options of the pluggable parts (LLM backends, student modes): pydantic models that refuse unknown names.

Each backend and each student mode declares its options as a subclass of :class:`Options`: documented fields with
defaults and bounds. :meth:`Options.check` validates a mapping of them and turns any problem into one line that
names the option and the part it belongs to, and for an unknown name the names that part takes. The models import
nothing but pydantic, so a task is checked when it is loaded without importing torch or an SDK.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

OptionsT = TypeVar("OptionsT", bound="Options")


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("true/false is not a number")
    return value


#: a whole-number option (``true``/``false`` are refused instead of read as 1/0)
Whole = Annotated[int, BeforeValidator(_not_bool)]
#: a number option (``true``/``false`` are refused)
Number = Annotated[float, BeforeValidator(_not_bool)]


class Options(BaseModel):
    """The options of one backend or student mode. Subclasses declare them as fields; unknown names are refused.

    A field's ``json_schema_extra={"unit": "seconds"}`` names its unit in messages ("a number of seconds > 0").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def names(cls) -> list[str]:
        """The option names, sorted."""
        return sorted(cls.model_fields)

    @classmethod
    def check(
        cls: type[OptionsT],
        values: Mapping[str, Any],
        owner: str,
        where: str = "",
        also: Sequence[str] = (),
        error: type[Exception] = ValueError,
    ) -> OptionsT:
        """``values`` validated; else ``error`` with one line naming the option and ``owner`` (e.g. "the local
        backend"). ``where`` is the prefix of the setting in a task (``llm.options.``); ``also`` are names accepted
        beside the options (listed with them when a name is unknown)."""
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            raise error(cls.explain(exc, values, owner, where, also)) from None

    @classmethod
    def explain(
        cls, exc: ValidationError, values: Mapping[str, Any], owner: str, where: str = "", also: Sequence[str] = ()
    ) -> str:
        """One line for the first problem in ``exc`` (all unknown names at once)."""
        errors = exc.errors()
        unknown = sorted({str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and e["loc"]})
        if unknown:
            names = [*cls.names(), *also]
            which = "option" if len(unknown) == 1 else "options"
            takes = f"use one of {', '.join(names)}" if names else "it takes none"
            return f"unknown {which} {', '.join(map(repr, unknown))} for {owner}; {takes}"
        err = errors[0]
        if not err["loc"]:  # a rule between options (a model validator)
            return f"{err['msg'].removeprefix('Value error, ')} ({owner})"
        name = str(err["loc"][0])
        field = cls.model_fields[name]
        return (
            f"{name} must be {field_rule(field)}, got {values.get(name)!r}; change {where}{name} (an option of {owner})"
        )


def field_rule(field: FieldInfo) -> str:
    """What a field accepts, in words: ``a whole number >= 1``, ``a number of seconds > 0 or null``, ``one of ...``."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    unit = extra.get("unit")
    return _type_rule(field.annotation, _bounds(field.metadata), str(unit) if unit else "")


def _bounds(metadata: Sequence[Any]) -> list[str]:
    signs = ((annotated_types.Ge, "ge", ">="), (annotated_types.Gt, "gt", ">"), (annotated_types.Le, "le", "<="),
             (annotated_types.Lt, "lt", "<"))  # fmt: skip
    out = []
    for item in metadata:
        for kind, attr, sign in signs:
            if isinstance(item, kind):
                out.append(f"{sign} {getattr(item, attr):g}")
    return out


def _type_rule(tp: Any, bounds: list[str], unit: str) -> str:
    origin = get_origin(tp)
    if origin is Annotated:
        inner, *meta = get_args(tp)
        return _type_rule(inner, bounds + _bounds(meta), unit)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        parts = [_type_rule(a, bounds, unit) for a in args if a is not type(None)]
        return " or ".join(parts + (["null"] if type(None) in args else []))
    if origin is Literal:
        values = [str(v) for v in get_args(tp)]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if origin in (list, tuple) or tp in (list, tuple):
        return "a list of strings" if get_args(tp) == (str,) else "a list"
    if origin in (dict, Mapping) or tp is dict:
        return "a mapping"
    if tp in (int, float):
        base = "a whole number" if tp is int else "a number"
        base += f" of {unit}" if unit else ""
        return base + (" " + " and ".join(bounds) if bounds else "")
    return f"a {getattr(tp, '__name__', tp)}"
