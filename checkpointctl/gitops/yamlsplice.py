"""Find the container images in a policy file and replace one scalar's text, nothing else.

A dependency bot earns trust by changing only the version it bumps: comments, key order,
quoting, blank lines and line endings stay exactly as written. So we never re-dump YAML: we
compose the file (nodes carry the character offsets of their text), locate each
``spec.containers[*].image`` scalar, and splice new text into that span. The new scalar keeps
the old quoting style when it can; the result is parsed again and must hold the new value at
that place and equal data everywhere else, or the splice is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from checkpointctl.policy.schema import is_template

_BOOL_TAG = "tag:yaml.org,2002:bool"
_STR_TAG = "tag:yaml.org,2002:str"


class SpliceError(ValueError):
    """The new value cannot be written into the file without changing anything else."""


@dataclass(frozen=True, slots=True)
class ImageSite:
    """Where one container's ``image`` is written in a YAML text."""

    document: int
    """Index of the YAML document in the file (policies may share a file)."""
    index: int
    """Position of the container in ``spec.containers``."""
    container: str
    value: str
    start: int
    """Offset of the scalar's first character (its opening quote, if any) in the text."""
    end: int
    line: int
    col: int
    style: str | None
    """None for plain scalars, ``'`` or ``"`` for quoted ones, ``|``/``>`` for blocks."""
    pin: bool
    """Whether the container says ``pin: true`` next to the image."""
    track: str | None = None
    """The container's ``track`` (a tag or a semver range ``update`` follows), when written."""

    @property
    def templated(self) -> bool:
        return is_template(self.value)


def _compose(text: str) -> list[yaml.Node]:
    # The pure-Python loader: its marks' ``index`` is an offset into ``text``. Composing builds
    # nodes only (no objects), so no tag can construct anything.
    loader = yaml.SafeLoader(text)
    try:
        docs: list[yaml.Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                docs.append(node)
        return docs
    finally:
        loader.dispose()


def _get(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v  # type: ignore[no-any-return]
    return None


def _is_true(node: yaml.Node | None) -> bool:
    return (
        isinstance(node, yaml.ScalarNode)
        and node.tag == _BOOL_TAG
        and yaml.constructor.SafeConstructor.bool_values.get(str(node.value).lower()) is True
    )


def find_images(text: str) -> list[ImageSite]:
    """Every string ``image`` under ``spec.containers`` in every document of ``text``.

    Raises:
        yaml.YAMLError: ``text`` is not YAML (callers parse it with limits first).
    """
    out: list[ImageSite] = []
    for d, root in enumerate(_compose(text)):
        containers = _get(_get(root, "spec") or yaml.MappingNode("", []), "containers")
        if not isinstance(containers, yaml.SequenceNode):
            continue
        for i, item in enumerate(containers.value):
            image = _get(item, "image")
            if not isinstance(image, yaml.ScalarNode) or image.tag != _STR_TAG:
                continue
            name = _get(item, "name")
            track = _get(item, "track")
            out.append(
                ImageSite(
                    document=d,
                    index=i,
                    container=str(name.value) if isinstance(name, yaml.ScalarNode) else f"#{i}",
                    value=str(image.value),
                    start=image.start_mark.index,
                    end=image.end_mark.index,
                    line=image.start_mark.line + 1,
                    col=image.start_mark.column + 1,
                    style=image.style or None,
                    pin=_is_true(_get(item, "pin")),
                    track=str(track.value) if isinstance(track, yaml.ScalarNode) else None,
                )
            )
    return out


def _plain_ok(value: str) -> bool:
    """Whether ``value`` can be written as a plain scalar and read back as the same string."""
    if not value or value != value.strip() or value[0] in "!&*-?:,[]{}#|>@`'\"%":
        return False
    if ": " in value or " #" in value or any(c in value for c in "\n\r\t,[]{}"):
        return False
    try:
        return bool(yaml.safe_load(value) == value)
    except yaml.YAMLError:
        return False


def _quoted(value: str, quote: str) -> str:
    if quote == "'":
        return "'" + value.replace("'", "''") + "'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _candidates(site: ImageSite, value: str) -> Iterator[str]:
    if site.style is None and _plain_ok(value):
        yield value
    if site.style == "'":
        yield _quoted(value, "'")
    yield _quoted(value, '"')


def _data(text: str) -> list[Any]:
    return list(yaml.safe_load_all(text))


def _set_image(docs: list[Any], site: ImageSite, value: str) -> list[Any]:
    docs[site.document]["spec"]["containers"][site.index]["image"] = value
    return docs


def splice(text: str, site: ImageSite, value: str) -> str:
    """``text`` with the scalar at ``site`` replaced by ``value``; every other character kept.

    Raises:
        SpliceError: the site is a block scalar, or no quoting of ``value`` reads back right.
    """
    if site.style in ("|", ">"):
        raise SpliceError(f"image of container {site.container!r} is a block scalar")
    if text[site.start : site.end].strip() == "":
        raise SpliceError(f"image of container {site.container!r} is empty")
    expected = _set_image(_data(text), site, value)
    for token in _candidates(site, value):
        new = text[: site.start] + token + text[site.end :]
        try:
            if _data(new) == expected:
                return new
        except yaml.YAMLError:
            continue
    raise SpliceError(f"cannot write {value!r} as the image of container {site.container!r}")


def splice_all(text: str, changes: list[tuple[ImageSite, str]]) -> str:
    """Apply several splices to one text (each site as found in the original ``text``)."""
    for site, value in sorted(changes, key=lambda c: c[0].start, reverse=True):
        text = splice(text, site, value)
    return text
