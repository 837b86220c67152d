"""The configuration's JSON Schema (`notifier schema`), so editors complete and check the YAML.

Generated from the settings models, with durations and their defaults as they are written
(`30s`, not ISO 8601's `PT30S`). `config/notifier.schema.json` is a copy a test keeps in step.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from notifier.config.models import Settings
from notifier.core.durations import format_duration

DRAFT = "https://json-schema.org/draft/2020-12/schema"


class _AsWritten(GenerateJsonSchema):
    """Defaults in the spelling of the file: durations as `30s`."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the configuration file."""
    schema = Settings.model_json_schema(mode="validation", schema_generator=_AsWritten)
    schema["title"] = "llamacloud-notifier configuration"
    schema["description"] = (
        "The notifier's YAML file. ${VAR} and ${VAR:-default} are read from the environment "
        "before validation; NOTIFIER_SECTION__KEY variables override keys."
    )
    return {"$schema": DRAFT, **schema}


def schema_text() -> str:
    """The schema as `notifier schema` prints it and the copy in config/ holds it."""
    return json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"
