"""Jobs kept in memory and persisted to one JSON file, so a restart of the emulator keeps them."""

import json
import os
import threading


class JobStore:
    """A thread-safe map of job name -> record, written atomically to `path` after every change."""

    def __init__(self, path):
        self._path = path
        self._lock = threading.RLock()
        self._jobs = {}
        self._sequence = 0

    def load(self):
        """Read the file if it exists; return the records, for the caller to resume."""
        with self._lock:
            if os.path.exists(self._path):
                with open(self._path, encoding="utf-8") as handle:
                    saved = json.load(handle)
                self._jobs = {job["name"]: job for job in saved.get("jobs", [])}
                self._sequence = int(saved.get("sequence", 0))
            return [dict(job) for job in self._jobs.values()]

    def _save(self):
        # Write then rename: a crash mid-write leaves the previous file intact.
        temporary = self._path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"sequence": self._sequence, "jobs": list(self._jobs.values())}, handle)
        os.replace(temporary, self._path)

    def next_sequence(self):
        """A new job number; it keeps growing across resets and restarts."""
        with self._lock:
            self._sequence += 1
            self._save()
            return self._sequence

    def add(self, record):
        """Store a new record."""
        with self._lock:
            self._jobs[record["name"]] = json.loads(json.dumps(record))
            self._save()

    def get(self, name):
        """A copy of the record, or None."""
        with self._lock:
            job = self._jobs.get(name)
            return json.loads(json.dumps(job)) if job else None

    def update(self, name, change):
        """Apply `change(record)` under the lock and save; return a copy, or None if the job is gone."""
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                return None
            change(job)
            self._save()
            return json.loads(json.dumps(job))

    def all(self):
        """Copies of every record."""
        with self._lock:
            return json.loads(json.dumps(list(self._jobs.values())))

    def clear(self):
        """Forget every job (the sequence goes on, so names are never reused)."""
        with self._lock:
            self._jobs = {}
            self._save()

    def __len__(self):
        with self._lock:
            return len(self._jobs)
