"""The local stack: its environment file is enough for the official clients, and stopping it leaves
no process behind."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from infra.local.layout import StackLayout, read_env_file
from infra.local.stack import Stack, answers

REPO = Path(__file__).resolve().parents[1]
REQUIRED = {"GOOGLE_CLOUD_PROJECT", "STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST",
            "VERTEX_AI_ENDPOINT", "SUBMIT_BATCH_URL", "POLL_STATUS_URL", "PASS1_BATCH_PROCESSOR_URL",
            "INPUT_BUCKET", "OUTPUT_BUCKET", "BQ_DATASET", "LOOKUP_TABLE", "OUTPUT_TABLE", "DEAD_LETTER_TABLE",
            "TRANSCRIPTS_TABLE"}


def test_env_file_names_everything(stack, layout):
    env = read_env_file(layout.env_file)
    assert REQUIRED <= set(env)
    assert env["BIGQUERY_EMULATOR_HOST"].startswith("http://") and env["VERTEX_AI_ENDPOINT"].startswith("http://")


def test_official_clients_work_from_the_env_file_alone(stack, layout):
    """A fresh process that knows only stack.env reaches every service through the product's
    client factories (the same code that runs in the cloud)."""
    script = textwrap.dedent("""
        import os
        from shared import clients
        gcs = clients.storage_client()
        bucket = gcs.bucket(os.environ["INPUT_BUCKET"])
        bucket.blob("probe.txt").upload_from_string(b"hello")
        assert bucket.blob("probe.txt").download_as_bytes() == b"hello"
        fs = clients.firestore_client()
        fs.collection("probe").document("d").set({"ok": True})
        assert fs.collection("probe").document("d").get().to_dict() == {"ok": True}
        bq = clients.bigquery_client()
        table = bq.get_table(f"{os.environ['GOOGLE_CLOUD_PROJECT']}.{os.environ['BQ_DATASET']}.{os.environ['OUTPUT_TABLE']}")
        assert any(f.name == "composite_key" for f in table.schema)
        vertex = clients.vertex_jobs_client(os.environ["VERTEX_AI_LOCATION"])
        parent = f"projects/{os.environ['GOOGLE_CLOUD_PROJECT']}/locations/{os.environ['VERTEX_AI_LOCATION']}"
        vertex.list(parent, filter="", page_size=10, timeout=10)
        print("OK")
    """)
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "PYTHONPATH": str(REPO),
           **read_env_file(layout.env_file)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "OK"


def test_tables_are_created_from_the_schemas(bigquery_client, layout):
    import json

    for table, schema_file in (("output_table", "pass1_analysis"), ("dead_letter_table", "pass1_dead_letter")):
        expected = [f["name"] for f in json.loads((REPO / "infra" / "schemas" / f"{schema_file}.json").read_text())]
        got = [f.name for f in bigquery_client.get_table(
            f"{layout.project}.{layout.dataset}.{getattr(layout, table)}").schema]
        assert got == expected


@pytest.mark.stack  # starts a Firestore emulator of its own
def test_stop_ends_the_whole_process_group_and_is_safe_twice(tmp_path):
    """The Firestore emulator is gcloud plus a Java child: stopping must end both."""
    layout = StackLayout(dir=tmp_path, port_base=18900)
    stack = Stack(layout)
    stack.start("firestore")
    pgid = int((tmp_path / "pids" / "firestore.pid").read_text())
    assert answers(f"http://127.0.0.1:{layout.firestore_port}/")
    members = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    assert len(members) >= 2  # the wrapper and the JVM
    assert stack.stop("firestore") is True
    assert subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).returncode == 1
    assert not answers(f"http://127.0.0.1:{layout.firestore_port}/")
    assert stack.stop("firestore") is False
    stack.down()
    stack.down()
