"""Cloud Storage side of a job: input JSONL read line by line, output shards written as streams.

The client finds the Storage emulator through STORAGE_EMULATOR_HOST, as production code does.
"""

import dataclasses
import fnmatch
import hashlib
import json

CHUNK_BYTES = 1024 * 1024  # read/write chunk; a multiple of 256 KiB as resumable uploads require


class InputError(Exception):
    """The job's input cannot be read: the whole job fails."""


@dataclasses.dataclass(frozen=True)
class InputRow:
    """One input line: a stable identity (position and content hash) and its parsed fields."""

    row_id: str
    fields: dict


def storage_client(project):
    """An anonymous google-cloud-storage client (imported lazily: it is heavy)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=project, credentials=AnonymousCredentials())


def parse_uri(uri):
    """('bucket', 'object/name') from 'gs://bucket/object/name'."""
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise InputError(f"not a Cloud Storage object URI: {uri}")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


def expand(client, uris):
    """The (bucket, name) objects the URIs name, wildcards (*) matched on object names."""
    objects = []
    for uri in uris:
        bucket, name = parse_uri(uri)
        if "*" not in name:
            objects.append((bucket, name))
            continue
        prefix = name.split("*", 1)[0]
        found = sorted(b.name for b in client.list_blobs(bucket, prefix=prefix) if fnmatch.fnmatchcase(b.name, name))
        if not found:
            raise InputError(f"no object matches {uri}")
        objects.extend((bucket, found_name) for found_name in found)
    return objects


def _parse(line):
    try:
        fields = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return fields if isinstance(fields, dict) else {}


def iter_rows(client, uris):
    """Yield an InputRow per non-blank input line, streaming each object in chunks."""
    from google.api_core import exceptions

    position = 0
    for bucket, name in expand(client, uris):
        try:
            with client.bucket(bucket).blob(name).open("rt", encoding="utf-8", chunk_size=CHUNK_BYTES) as lines:
                for line in lines:
                    if not line.strip():
                        continue
                    digest = hashlib.sha256(line.strip().encode("utf-8")).hexdigest()[:16]
                    yield InputRow(f"{position}:{digest}", _parse(line))
                    position += 1
        except exceptions.NotFound as exc:
            raise InputError(f"input object gs://{bucket}/{name} was not found") from exc


class ShardWriter:
    """Writes prediction lines into predictions.jsonl, or predictions_00001.jsonl... of N rows each."""

    def __init__(self, client, directory_uri, rows_per_file):
        self._bucket, self._prefix = parse_uri(directory_uri + "/")
        self._bucket = client.bucket(self._bucket)
        self._rows_per_file = rows_per_file
        self._stream = None
        self._rows_in_file = 0
        self._files = 0

    def _open(self):
        self._files += 1
        name = "predictions.jsonl" if not self._rows_per_file else f"predictions_{self._files:05d}.jsonl"
        blob = self._bucket.blob(self._prefix + name)
        self._stream = blob.open("wt", encoding="utf-8", chunk_size=CHUNK_BYTES, content_type="application/jsonl")
        self._rows_in_file = 0

    def write(self, line):
        """Append one line (a dict); a full shard is closed, so its rows are visible at once."""
        if self._stream is None:
            self._open()
        self._stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._rows_in_file += 1
        if self._rows_per_file and self._rows_in_file >= self._rows_per_file:
            self.close()

    def close(self):
        """Finish the open shard (the object appears in the bucket)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def abandon(self):
        """Drop the open shard without finishing it: the object never appears."""
        self._stream = None
