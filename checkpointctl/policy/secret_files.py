"""Secret files: a policy's document (JSON/YAML) or text with vaulted values inside, as a
:class:`~checkpointctl.spec.SecretFileSpec` whose secrets stay sealed until the writer.

The document is serialised once, canonically (sorted keys), with each vaulted value replaced by
a numbered placeholder; the secrets travel beside the template. So equal policies give equal
templates, ``render`` can show the template without a secret, and the container's config
digest is computed from the template and slow digests of the secrets.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

import yaml

from checkpointctl.model import Secret
from checkpointctl.spec import SECRET_PLACEHOLDER, SecretFileSpec

VAULT_PREFIX = "$CHECKPOINTCTL_VAULT;"
_FORMATS: Mapping[str, Literal["json", "yaml", "text"]] = {
    "json": "json",
    "yaml": "yaml",
    "text": "text",
}
Seal = Callable[[str, str], Secret]
"""(vaulted text, logical path) → Secret (see ``policy.build.sealed``)."""


def _placeholders(value: Any, path: str, seal: Seal, secrets: list[Secret]) -> Any:
    """``value`` with each secret (vaulted in the policy, or a vaulted inventory variable
    templated in) replaced by its numbered placeholder, the secrets appended to ``secrets``."""
    if isinstance(value, Secret) or (isinstance(value, str) and value.startswith(VAULT_PREFIX)):
        secrets.append(value if isinstance(value, Secret) else seal(value, path))
        return SECRET_PLACEHOLDER.format(len(secrets) - 1)
    if isinstance(value, dict):
        return {str(k): _placeholders(v, f"{path}.{k}", seal, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v, f"{path}[{i}]", seal, secrets) for i, v in enumerate(value)]
    return value


def build_secret_file(
    container: str, index: int, raw: Mapping[str, Any], uid: int, gid: int, seal: Seal
) -> SecretFileSpec:
    """``containers[].files[index]`` as a spec (the schema has checked its shape)."""
    target = str(raw["path"])
    content = raw["content"]
    fmt = str(raw.get("format") or ("text" if isinstance(content, str) else "json"))
    secrets: list[Secret] = []
    doc = _placeholders(content, f"containers.{container}.files[{index}].content", seal, secrets)
    if fmt == "text":
        template = doc if isinstance(doc, str) else json.dumps(doc, sort_keys=True)
    elif fmt == "yaml":
        template = yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)
    else:
        template = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return SecretFileSpec(
        container=container,
        target=target,
        format=_FORMATS[fmt],
        template=template,
        secrets=tuple(secrets),
        uid=uid,
        gid=gid,
    )


def secret_file_digest_input(spec: SecretFileSpec, digest: Callable[[int, Secret], str]) -> bytes:
    """What the container's config digest covers for this file: the template, the owner and a
    slow digest of each secret (the label is readable by anyone who can inspect containers)."""
    return json.dumps(
        [
            spec.target,
            spec.format,
            spec.template,
            spec.uid,
            spec.gid,
            [digest(i, s) for i, s in enumerate(spec.secrets)],
        ]
    ).encode()


__all__ = ["build_secret_file", "secret_file_digest_input"]
