"""Settings (shared/config.py) are the one home of the deployment's defaults: the local stack and
the deploy take theirs from it. Pure: no stack."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from infra import deploy
from infra.local.layout import LOCAL_BQ_LOCATION, StackLayout
from shared.config import ENV_NAMES, RUN_EVENTS_TOPIC, Settings


def test_the_environment_round_trips():
    settings = Settings.for_project("acme", location="europe-west4", dataset="calls", bq_location="EU",
                                    vertex_endpoint="http://127.0.0.1:1", allowed_buckets={"extra"})
    assert Settings.from_env(settings.to_env()) == settings
    assert settings.allowed_buckets == {"acme-batch-input", "acme-batch-output", "extra"}


def test_every_field_but_the_project_and_the_buckets_allowed_has_one_variable():
    names = {f.name for f in fields(Settings)} - {"project", "allowed_buckets"}
    assert set(ENV_NAMES) == names and len(set(ENV_NAMES.values())) == len(ENV_NAMES)


@pytest.mark.parametrize("env, field, value", [
    ({"BQ_DATASET": ""}, "dataset", Settings.dataset),  # empty is unset: the default
    ({"BQ_LOCATION": ""}, "bq_location", Settings.bq_location),
    ({"VERTEX_AI_ENDPOINT": ""}, "vertex_endpoint", None),
    ({"INPUT_BUCKET": "in", "ALLOWED_BUCKETS": " a, ,b "}, "allowed_buckets", frozenset({"in", "a", "b"})),
])
def test_from_env_defaults_and_allowed_buckets(env, field, value):
    assert getattr(Settings.from_env({"GOOGLE_CLOUD_PROJECT": "p", **env}), field) == value


def test_allowed_buckets_are_written_only_when_they_add_to_the_implied_two():
    """A deploy's --set-env-vars is comma-separated: ALLOWED_BUCKETS there only when it must be."""
    assert "ALLOWED_BUCKETS" not in Settings.for_project("p").to_env()
    assert Settings.for_project("p", allowed_buckets={"x"}).to_env()["ALLOWED_BUCKETS"] == \
        "p-batch-input,p-batch-output,x"


def test_the_local_stack_deploys_the_settings_defaults(tmp_path: Path):
    layout = StackLayout(dir=tmp_path)
    env = layout.env_vars()
    assert Settings.from_env(env) == Settings.for_project("local-project", bq_location=LOCAL_BQ_LOCATION,
                                                          vertex_endpoint=env["VERTEX_AI_ENDPOINT"])
    # The layout answers the settings' names as its own (provisioning and the tests use them).
    assert (layout.dataset, layout.lookup_table, layout.input_bucket) == \
        (Settings.dataset, Settings.lookup_table, "local-project-batch-input")
    assert env["RUN_EVENTS_TOPIC"] == layout.run_events_topic == RUN_EVENTS_TOPIC
    with pytest.raises(AttributeError):
        layout.no_such_name  # noqa: B018


def test_the_deploy_gives_every_function_the_settings_it_creates():
    cfg = deploy.Config(project="acme", region="europe-west4")
    assert (cfg.dataset, cfg.bq_location, cfg.events_topic) == (Settings.dataset, Settings.bq_location, RUN_EVENTS_TOPIC)
    expected = Settings.for_project("acme", location="europe-west4")
    for spec in deploy.functions(cfg):
        assert Settings.from_env(spec.env) == expected, spec.name
