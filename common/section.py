"""The base of every config section and parameter set: frozen, unknown keys refused, seed names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel


class Section(BaseModel):
    """Frozen, unknown keys rejected; files may use the seeds' camelCase names (``netMax``) or the
    snake_case ones (``net_max``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel)


def ordered(field: str, *, above: str | None = None, below: str | None = None, strict: bool = False) -> Any:
    """A field validator: ``field`` must not be below ``above`` / not exceed ``below``, two fields
    declared before it (``strict``: must differ too). The message names the other key as written in
    files (``must not exceed minSpread``). A bound that itself failed validation is not checked again.

        release = ...
        _release = ordered("release", below="threshold")
    """

    def check(cls: type[BaseModel], v: Any, info: ValidationInfo) -> Any:
        if above is not None and above in info.data:
            lo = info.data[above]
            if v < lo or (strict and v == lo):
                rel = "must be above" if strict else "must not be below"
                raise ValueError(f"{rel} {to_camel(above)}")
        if below is not None and below in info.data:
            hi = info.data[below]
            if v > hi or (strict and v == hi):
                rel = "must be below" if strict else "must not exceed"
                raise ValueError(f"{rel} {to_camel(below)}")
        return v

    return field_validator(field)(check)


def merge_symbol_defaults(value: Any, defaults: Mapping[str, BaseModel]) -> Any:
    """Per-symbol parameter tables overlay their defaults instead of replacing the whole table.

    ``[risk.params.symbols.ETHUSDC] stopLoss = -30`` changes ETHUSDC's stopLoss only: ETHUSDC keeps
    its other defaults and BTCUSDC keeps its whole default entry. Used as a "before" validator.
    """
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {k: m.model_dump() for k, m in defaults.items()}
    for sym, given in value.items():
        base = out.get(sym)
        if isinstance(given, BaseModel):
            out[sym] = given
        elif isinstance(base, dict) and isinstance(given, Mapping):
            out[sym] = _deep(base, given)
        else:
            out[sym] = given
    return out


def _deep(base: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in given.items():
        key = _snake(k)
        if isinstance(v, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep(out[key], v)
        else:
            out[key] = v
    return out


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower() if key[:1].islower() else key
