"""The base of every model of what a user writes (a config file, a scenario file, a publish request).

Unknown keys are errors, so a typo fails loudly instead of being ignored; fields with an
alias (``class``, ``schema``) also accept their Python name.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
