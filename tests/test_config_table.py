"""The configuration tables of README.md and docs/*.md are the settings dataclasses' (tools/config_table.py):
the text between `<!-- config-table:begin NAME -->` and `<!-- config-table:end NAME -->` is exactly
what the renderer makes of NAME's dataclass. Fix a failure with `python -m tools.config_table --write`."""

from __future__ import annotations

import dataclasses

import pytest

from tools import config_table


def _found() -> dict[str, list[tuple[str, str]]]:
    """Table name -> [(page, text between its markers)] over every page."""
    found: dict[str, list[tuple[str, str]]] = {}
    for page in config_table.documents():
        for name, body in config_table.blocks(page.read_text(encoding="utf-8")).items():
            found.setdefault(name, []).append((page.name, body))
    return found


@pytest.mark.parametrize("name", sorted(config_table.TABLES))
def test_each_table_is_on_one_page_and_matches_its_dataclass(name):
    places = _found().get(name, [])
    assert len(places) == 1, f"table {name!r} should be between its markers on exactly one page: {places}"
    page, body = places[0]
    assert body == config_table.render(name), (
        f"{page}: the {name} configuration table differs from its dataclass; run python -m tools.config_table --write")


def test_every_marked_table_is_known():
    assert set(_found()) <= set(config_table.TABLES)


@pytest.mark.parametrize("name", sorted(config_table.TABLES))
def test_a_table_has_a_row_per_field_with_its_default(name):
    cls = config_table.settings_class(name)
    rows = config_table.render(name).splitlines()[2:]
    assert len(rows) == len(dataclasses.fields(cls)) + len(getattr(cls, "ENV_EXTRA", ()))
    for field, row in zip(dataclasses.fields(cls), rows[:len(dataclasses.fields(cls))], strict=True):
        assert row.startswith(f"| `{field.metadata['env']}` | ")
        if "shown" not in field.metadata:  # a field shown otherwise may have no default (the project)
            assert config_table.shown(field.default) in row


def test_rewrite_fills_the_markers_and_keeps_the_rest():
    text = "before\n<!-- config-table:begin poll_status -->\nstale\n<!-- config-table:end poll_status -->\nafter\n"
    new = config_table.rewrite(text)
    assert new == ("before\n<!-- config-table:begin poll_status -->\n" + config_table.render("poll_status")
                   + "\n<!-- config-table:end poll_status -->\nafter\n")
    assert config_table.rewrite(new) == new


def test_the_shared_rows_read_elsewhere_give_the_defaults_their_modules_use():
    """Settings.ENV_EXTRA restates defaults that shared/http.py and shared/retry.py own: keep them equal."""
    from shared import http, retry
    from shared.config import Settings

    extra = {variable: default for variable, default, _ in Settings.ENV_EXTRA}
    assert int(extra["MAX_REQUEST_BYTES"]) == http.DEFAULT_MAX_REQUEST_BYTES
    assert float(extra["RETRY_INITIAL_DELAY_SECONDS"]) == retry.INITIAL_DELAY_SECONDS
    assert float(extra["RETRY_MAXIMUM_DELAY_SECONDS"]) == retry.MAXIMUM_DELAY_SECONDS
    assert float(extra["RETRY_DEADLINE_SECONDS"]) == retry.DEFAULT_DEADLINE_SECONDS
