"""The versioned prompt of a batch type, read from prompts/<batch_type>/<version>/ beside this package
(see prompts/README.md), and the Gemini request built from it for one transcript."""

from __future__ import annotations

import functools
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path

from shared.errors import InternalError, ValidationError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
VERSION_PATTERN = re.compile(r"^v[0-9]{1,4}$")
# A transcript that closed the tag around it could pass itself off as instructions; the space keeps
# the text readable and the tag unbroken.
_CLOSING_TAG = re.compile(r"</(\s*)transcript", re.IGNORECASE)


@dataclass(frozen=True)
class PromptSpec:
    """One prompt version: system instruction, user template, response schema, generation config."""

    batch_type: str
    version: str
    system_instruction: str
    user_template: string.Template
    generation_config: dict

    def request_for(self, transcript: str) -> dict:
        """The `request` object of one batch line (Gemini GenerateContentRequest JSON)."""
        text = self.user_template.substitute(transcript=_CLOSING_TAG.sub(r"< /\1transcript", transcript))
        return {
            "contents": [{"role": "user", "parts": [{"text": text}]}],
            "systemInstruction": {"parts": [{"text": self.system_instruction}]},
            "generationConfig": self.generation_config,
        }


def known_batch_types() -> list[str]:
    return sorted(p.name for p in PROMPTS_DIR.iterdir() if p.is_dir()) if PROMPTS_DIR.is_dir() else []


@functools.lru_cache(maxsize=16)
def load_prompt(batch_type: str, version: str) -> PromptSpec:
    """Read and check one prompt version; ValidationError when the caller named one that does not exist."""
    if batch_type not in known_batch_types():
        raise ValidationError(f"unknown batch_type '{batch_type}'", field="batch_type",
                              details={"known": known_batch_types()})
    if not VERSION_PATTERN.fullmatch(version) or not (PROMPTS_DIR / batch_type / version).is_dir():
        raise ValidationError(f"no prompt version '{version}' for batch type '{batch_type}'",
                              field="prompt_version")
    folder = PROMPTS_DIR / batch_type / version
    try:
        system = (folder / "system_instruction.txt").read_text(encoding="utf-8").strip()
        template = string.Template((folder / "user_prompt.txt").read_text(encoding="utf-8").strip())
        schema = json.loads((folder / "response_schema.json").read_text(encoding="utf-8"))
        generation = json.loads((folder / "generation_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InternalError(f"prompt {batch_type}/{version} is incomplete or invalid",
                            details={"error": type(exc).__name__}) from exc
    if "$transcript" not in template.template and "${transcript}" not in template.template:
        raise InternalError(f"prompt {batch_type}/{version}: user_prompt.txt has no $transcript")
    generation = {**generation, "responseMimeType": "application/json", "responseSchema": schema}
    return PromptSpec(batch_type, version, system, template, generation)
