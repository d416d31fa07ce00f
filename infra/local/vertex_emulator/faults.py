"""Seeded fault decisions.

Row decisions hash (seed, fault kind, row identity), so each fault kind is drawn independently of
the others and of the job: the same seed, configuration and input give the same output. API-call
and job-level rules are drawn from the order of calls, which a test controls.
"""

import hashlib
import threading

from .config import ROW_FAULTS
from .errors import ApiError, job_error


def unit(seed, *parts):
    """A deterministic number in [0, 1) from the seed and the given parts."""
    text = "|".join(str(part) for part in (seed, *parts))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pick(options, seed, *parts):
    """A deterministic choice among `options`."""
    return options[int(unit(seed, *parts) * len(options))]


def row_faults(config, row_id):
    """The fault kinds drawn for one row: a set of names from config.ROW_FAULTS."""
    seed = config["seed"]
    return {kind for kind in ROW_FAULTS if config[kind] > 0 and unit(seed, kind, row_id) < config[kind]}


def _matches(rule, method, location, model):
    if "method" in rule and rule["method"] not in ("*", method):
        return False
    if rule.get("location") and rule["location"] != location:
        return False
    if rule.get("model") and rule["model"] not in (model or ""):
        return False
    return True


class RuleBook:
    """Rules that fail matching events: a count rule the next N, a rate rule a seeded share.

    The rules live in the shared configuration dict, so a spent count shows in GET /emulator/config.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._draws = 0

    def reset(self):
        """Restart the sequence of rate draws (after a reset or a new configuration)."""
        with self._lock:
            self._draws = 0

    def fire(self, config, key, method, location, model):
        """The first rule of config[key] that fires for this event, or None."""
        with self._lock:
            for index, rule in enumerate(config[key]):
                if not _matches(rule, method, location, model):
                    continue
                if "count" in rule:
                    if rule["count"] > 0:
                        rule["count"] -= 1
                        return rule
                    continue
                self._draws += 1
                if unit(config["seed"], key, index, self._draws) < rule["rate"]:
                    return rule
            return None

    def api_error(self, config, method, location, model=None):
        """The ApiError an API call must answer, or None."""
        rule = self.fire(config, "api_faults", method, location, model)
        return ApiError(rule["code"], rule.get("message")) if rule else None

    def job_failure(self, config, seq, location, model):
        """The `error` a new job will end with (whole-job failure), or None."""
        rule = self.fire(config, "job_failure_rules", "job", location, model)
        if rule:
            return job_error(rule["code"], rule.get("message"))
        if config["job_failure"] > 0 and unit(config["seed"], "job_failure", seq) < config["job_failure"]:
            return job_error(500, "Batch prediction job failed: internal error (injected by the emulator).")
        return None
