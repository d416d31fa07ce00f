"""A settings field that documents itself: the environment variable it is read from and what it
means travel with the dataclass field, so that the README's configuration tables are rendered from
the settings dataclasses (tools/config_table.py) instead of being kept in step by hand."""

from __future__ import annotations

import dataclasses
from typing import Any

ENV, DOC, SHOWN = "env", "doc", "shown"


def env_field(default: Any, env: str, doc: str, *, shown: str | None = None) -> Any:
    """A dataclass field with `default`, read from `env`; `shown` replaces the default in the table
    when the value alone would not say it (None meaning "the primary location", say)."""
    metadata = {ENV: env, DOC: doc}
    if shown is not None:
        metadata[SHOWN] = shown
    return dataclasses.field(default=default, metadata=metadata)
