"""The base of every config section and parameter set: frozen, unknown keys refused, seed names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Section(BaseModel):
    """Frozen, unknown keys rejected; files may use the seeds' camelCase names (``netMax``) or the
    snake_case ones (``net_max``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel)
