"""A tiny client of the emulator's control endpoints, on the standard library only (cheap to import)."""

import json
import urllib.error
import urllib.request


class EmulatorControlError(RuntimeError):
    """A control call was refused (for example a bad setting) or failed."""


class EmulatorControl:
    """Talks to GET /emulator/health, GET|POST /emulator/config and POST /emulator/reset."""

    def __init__(self, base_url, timeout=30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise EmulatorControlError(f"{method} {path}: HTTP {exc.code}: {detail}") from exc
        except urllib.error.URLError as exc:
            raise EmulatorControlError(f"{method} {path}: {exc.reason}") from exc

    def health(self):
        """The health document ({"status": "ok", ...}); raises if the emulator does not answer."""
        return self._call("GET", "/emulator/health")

    def config(self):
        """The current settings."""
        return self._call("GET", "/emulator/config")

    def configure(self, **settings):
        """Merge settings (e.g. configure(fenced=1.0, pace_seconds=0)); return the resulting settings."""
        return self._call("POST", "/emulator/config", settings)

    def reset(self):
        """Forget every job and restore the default settings."""
        return self._call("POST", "/emulator/reset", {})
