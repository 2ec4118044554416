"""The machine-readable report: ``model.report_to_json`` as stable, sorted JSON.

The shape is owned by :func:`checkpointctl.model.report_to_json` and published as
``checkpointctl/schemas/report.v1.json``; this module only fixes the serialisation (sorted keys,
two-space indent, ASCII escapes) so that equal reports give equal bytes. The module is not named
``json`` so that it never shadows the standard library inside the package.
"""

from __future__ import annotations

import json
from importlib import resources

from checkpointctl.model import REDACTED, JSONValue, RunReport, Secret, report_to_json

SCHEMA_NAME = "report.v1.json"


def _redact(obj: object) -> str:
    # report_to_json redacts field values; this also catches a Secret nested inside one.
    if isinstance(obj, Secret):
        return REDACTED
    raise TypeError(f"cannot serialise a value of type {type(obj).__name__}")


def render_json(report: RunReport) -> str:
    """The report as JSON (``format_version`` 1.x), ending with a newline.

    Raises:
        TypeError: a field value holds something that is neither JSON data nor a Secret.
    """
    return render_json_value(report_to_json(report)) + "\n"


def render_json_value(value: JSONValue) -> str:
    """``value`` serialised as the report is (sorted keys, two-space indent, ASCII escapes, a
    nested Secret redacted), without a final newline: a streamed report's pieces."""
    return json.dumps(value, indent=2, sort_keys=True, default=_redact)


def report_schema() -> dict[str, JSONValue]:
    """The published JSON Schema (Draft 2020-12) of the JSON report, loaded from the package."""
    text = (resources.files("checkpointctl") / "schemas" / SCHEMA_NAME).read_text("utf-8")
    schema: dict[str, JSONValue] = json.loads(text)
    return schema
