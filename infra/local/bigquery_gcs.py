"""Load jobs of the local BigQuery read gs:// URIs from the stack's Storage emulator.

local-bigquery reads a load job's gs:// source either from a local folder or through DuckDB's httpfs
extension, which the stack does not have (no network). This hook, installed by bigquery_front.py in
the emulator's process, downloads the objects a load job names (a trailing `*` wildcard lists the
prefix, as BigQuery does) from the Storage emulator into a temporary folder for the length of the
job, so that the processor's stage-then-load path (pass1_processor/staging.py) runs locally exactly
as deployed. Each downloaded source is also checked against what BigQuery refuses in a load's data
(bigquery_load_rules.py). Standard library only (the emulator's Python 3.13 environment).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from local_bigquery.errors import BigQueryError

from infra.local import bigquery_load_rules as rules

_local = threading.local()


def install(storage_url: str) -> None:
    """Patch local-bigquery's load job to fetch gs:// sources from storage_url."""
    from local_bigquery.jobs import load, runner

    original = runner.HANDLERS["load"]

    def paths(cur, uri: str) -> list[str]:
        if not uri.startswith("gs://"):
            return [uri]
        found = _download(storage_url.rstrip("/"), uri, _local.folder)
        for path in found:
            name = rules.unknown_field(_local.config, rules.first_line(path))
            if name is not None:
                raise BigQueryError("invalid", rules.no_such_field_message(uri, name))
        return found

    def run(cur, config, upload):
        _local.folder, _local.config = Path(tempfile.mkdtemp(prefix="bq-load-")), config
        try:
            return original(cur, config, upload)
        finally:
            shutil.rmtree(_local.folder, ignore_errors=True)

    load.paths = paths
    runner.HANDLERS["load"] = run


def _download(base: str, uri: str, folder: Path) -> list[str]:
    bucket, _, name = uri[5:].partition("/")
    names = _list(base, bucket, name) if "*" in name else [name]
    if not names:
        raise BigQueryError("notFound", f"Not found: URI {uri}")
    out = []
    for index, item in enumerate(names):
        target = folder / f"{len(list(folder.iterdir()))}-{index}.data"
        quoted = urllib.parse.quote(item, safe="")
        try:
            with urllib.request.urlopen(f"{base}/download/storage/v1/b/{bucket}/o/{quoted}?alt=media") as answer:
                target.write_bytes(answer.read())
        except urllib.error.HTTPError as error:
            raise BigQueryError("notFound", f"Not found: URI gs://{bucket}/{item} (HTTP {error.code})") from None
        out.append(str(target))
    return out


def _list(base: str, bucket: str, pattern: str) -> list[str]:
    prefix = pattern.split("*", 1)[0]
    regex = re.compile(".*".join(map(re.escape, pattern.split("*"))))
    names, token = [], None
    while True:
        query = {"prefix": prefix, **({"pageToken": token} if token else {})}
        with urllib.request.urlopen(f"{base}/storage/v1/b/{bucket}/o?{urllib.parse.urlencode(query)}") as answer:
            page = json.loads(answer.read())
        names += [item["name"] for item in page.get("items", []) if regex.fullmatch(item["name"])]
        token = page.get("nextPageToken")
        if not token:
            return sorted(names)
