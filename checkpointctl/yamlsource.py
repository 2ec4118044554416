"""YAML documents with the location of every value (policies and inventories share it).

We compose with PyYAML's *safe* loader and convert nodes ourselves, so that every value keeps its
``path:line:col`` for error messages, only the plain YAML types are accepted (a Python tag is an
error, not an object), and aliases cannot blow up memory (a node budget bounds the expansion).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from checkpointctl.errors import Diagnostic, Location

MAX_FILE_BYTES = 2 * 1024 * 1024
"""Policies are small; a bigger file is a mistake or an attack, refused before parsing."""

MAX_NODES = 100_000
"""Upper bound on values after alias expansion (the billion-laughs defence)."""

MAX_DEPTH = 64

PathKey = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class _PyLoader(yaml.SafeLoader):
    """The pure-Python safe loader, with depth and size limits enforced while composing.

    PyYAML's composer recurses once per nesting level, so ``[[[[...`` a few hundred levels deep
    would end in a RecursionError before the converter's own depth check saw a node; and a
    2 MB file of one-character items would take a minute to compose. Counting here bounds
    both. (Aliases are not composed again, so the alias bomb is the converter's to count.)
    """

    source_path = "<string>"
    _depth = 0
    _composed = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        self._composed += 1
        try:
            if self._depth > MAX_DEPTH + 1 or self._composed > MAX_NODES:
                mark: yaml.Mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                problem = (
                    f"nesting deeper than {MAX_DEPTH}"
                    if self._depth > MAX_DEPTH + 1
                    else f"file has more than {MAX_NODES} values"
                )
                raise SourceError(Diagnostic(problem, _loc(self.source_path, mark)))
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _NodeSource(Protocol):
    def check_node(self) -> bool: ...
    def get_node(self) -> yaml.Node | None: ...
    def dispose(self) -> None: ...


def _loader(text: str, path: str) -> _NodeSource:
    """A safe loader for ``text``: libyaml's when PyYAML has it (about five times faster).

    libyaml composes in C, so limits cannot be checked while it composes; instead its parser
    first counts the events in C (a few milliseconds per megabyte) and a file with more events
    than the value budget allows is refused before any node exists. libyaml refuses nesting
    deeper than 1,000 levels itself, and its composer does not use Python's stack.
    """
    if yaml.__with_libyaml__:
        from yaml._yaml import CParser

        counter = CParser(text)
        try:
            events = counter.raw_parse()
        finally:
            counter.dispose()
        if events > 2 * MAX_NODES:  # every value is one event (two for collections)
            raise SourceError(
                Diagnostic(f"file has more than {MAX_NODES} values", Location(path, 1, 1))
            )
        return yaml.CSafeLoader(text)
    loader = _PyLoader(text)
    loader.source_path = path
    return loader


@dataclass(frozen=True, slots=True)
class TaggedScalar:
    """A scalar written with a local tag the caller allowed (``!vault |``, ``!unsafe``):
    its tag and text, left for the caller to interpret."""

    tag: str
    text: str


class SourceError(Exception):
    """Raised inside this module; converted to a Diagnostic at the module boundary."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic


@dataclass
class Document:
    """One YAML document: plain Python data plus where each value was written."""

    path: str
    data: Any
    locations: dict[PathKey, Location] = field(default_factory=dict)
    key_locations: dict[PathKey, Location] = field(default_factory=dict)
    block_scalars: set[PathKey] = field(default_factory=set)
    """Values written as ``|`` or ``>`` blocks: their text starts on the line after the
    location (which is the indicator's), so a line inside them is ``location.line + n``."""

    def where(self, path: PathKey) -> Location:
        """The location of ``path`` or of its nearest written ancestor."""
        p = tuple(path)
        while p:
            if p in self.locations:
                return self.locations[p]
            p = p[:-1]
        return self.locations.get((), Location(self.path, 1, 1))

    def where_key(self, path: PathKey) -> Location:
        """The location of the *key* of ``path`` (for 'unknown field' messages)."""
        return self.key_locations.get(tuple(path)) or self.where(path)


def field_path(path: PathKey) -> str:
    """``('spec', 'containers', 0, 'image')`` → ``spec.containers[0].image``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _loc(path: str, mark: yaml.Mark) -> Location:
    return Location(path, mark.line + 1, mark.column + 1)


_SCALAR_TAGS = frozenset(
    {"tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
     "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"}
)  # fmt: skip
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_SCALAR_VALUES: dict[tuple[str, str], Any] = {}
_SCALAR_CACHE_SIZE = 4096


def _plain_scalar(node: yaml.ScalarNode) -> Any:
    """The value of a plain non-string scalar (``30``, ``true``, ``~``, ``2026-01-01``).

    PyYAML's scalar constructors read only the node's tag and text and keep no state, so one
    shared constructor serves every file, and values (all immutable) are cached by tag and text.
    A loader per file, as ``construct_object`` needs, is a reference cycle holding every node it
    met: garbage the cyclic collector then spends a noticeable share of ``validate`` on.
    """
    key = (node.tag, node.value)
    value = _SCALAR_VALUES.get(key, _SCALAR_VALUES)
    if value is _SCALAR_VALUES:
        value = yaml.SafeLoader.yaml_constructors[node.tag](_CONSTRUCTOR, node)
        if len(_SCALAR_VALUES) < _SCALAR_CACHE_SIZE:
            _SCALAR_VALUES[key] = value
    return value


class _Converter:
    def __init__(self, path: str, scalar_tags: frozenset[str] = frozenset()) -> None:
        self.path = path
        self.scalar_tags = scalar_tags
        self.nodes = 0  # counted over the whole file, so many small bombs add up to one
        self.doc = Document(path, None)
        self._loader: yaml.SafeLoader | None = None

    def _construct(self, node: yaml.ScalarNode, *, deep: bool) -> Any:
        """A plain scalar's value, as PyYAML's safe loader constructs it.

        Raises:
            yaml.constructor.ConstructorError: an explicit tag the text does not fit
                (``!!int abc``, ``!!bool maybe``): PyYAML's constructors raise a bare
                ValueError or KeyError there, which would otherwise escape as a crash.
        """
        try:
            if node.tag in _SCALAR_TAGS:
                return _plain_scalar(node)
            # a collection tag on a scalar (``!!map x``): left to PyYAML, whatever it makes of it
            if self._loader is None:
                self._loader = yaml.SafeLoader("")
            return self._loader.construct_object(node, deep=deep)
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            if isinstance(exc, yaml.YAMLError):
                raise
            tag = node.tag.removeprefix("tag:yaml.org,2002:")
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid !!{tag}", node.start_mark
            ) from None

    def _string(self, node: yaml.Node, at: PathKey, depth: int) -> Any:
        """:meth:`convert` with the most common value, a string scalar within the limits,
        done inline: most of a policy's values are strings, and this is the same result
        (the value, its location, whether it is a block) without convert's checks."""
        if (
            node.__class__ is not yaml.ScalarNode
            or node.tag != _STR
            or self.nodes >= MAX_NODES
            or depth > MAX_DEPTH
        ):
            return self.convert(node, at, depth)
        self.nodes += 1
        locations = self.doc.locations
        if at not in locations:
            locations[at] = _loc(self.path, node.start_mark)
        if node.style in ("|", ">"):
            self.doc.block_scalars.add(at)
        return node.value

    def next_document(self) -> None:
        self.doc = Document(self.path, None)

    def convert(self, node: yaml.Node, at: PathKey, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SourceError(
                Diagnostic(
                    f"document expands to more than {MAX_NODES} values (alias bomb?)",
                    _loc(self.path, node.start_mark),
                    hint="policies rarely need YAML aliases; write the values out",
                )
            )
        if depth > MAX_DEPTH:
            raise SourceError(
                Diagnostic(f"nesting deeper than {MAX_DEPTH}", _loc(self.path, node.start_mark))
            )
        if node.tag not in _PLAIN_TAGS:
            if isinstance(node, yaml.ScalarNode) and node.tag in self.scalar_tags:
                self.doc.locations.setdefault(at, _loc(self.path, node.start_mark))
                return TaggedScalar(node.tag, node.value)
            raise SourceError(
                Diagnostic(
                    f"tag {node.tag!r} is not allowed (only plain YAML values)",
                    _loc(self.path, node.start_mark),
                    field=field_path(at) or None,
                )
            )
        self.doc.locations.setdefault(at, _loc(self.path, node.start_mark))
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise SourceError(
                        Diagnostic(
                            "YAML merge keys (<<) are not supported",
                            _loc(self.path, key_node.start_mark),
                        )
                    )
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _PLAIN_TAGS:
                    raise SourceError(
                        Diagnostic(
                            "mapping keys must be plain scalars",
                            _loc(self.path, key_node.start_mark),
                            field=field_path(at) or None,
                        )
                    )
                key = (
                    key_node.value
                    if key_node.tag == _STR
                    else str(self._construct(key_node, deep=False))
                )
                if key in out:
                    raise SourceError(
                        Diagnostic(
                            f"duplicate key {key!r}",
                            _loc(self.path, key_node.start_mark),
                            field=field_path(at) or None,
                        )
                    )
                sub = at + (key,)
                self.doc.key_locations[sub] = _loc(self.path, key_node.start_mark)
                out[key] = self._string(value_node, sub, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._string(v, at + (i,), depth + 1) for i, v in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        if node.style in ("|", ">"):
            self.doc.block_scalars.add(at)
        if node.tag == _STR:
            return node.value  # what SafeConstructor would return, without its overhead
        value = self._construct(node, deep=True)
        if isinstance(value, datetime.datetime | datetime.date):
            return value.isoformat()
        return value


def parse_documents(
    text: str, path: str, scalar_tags: frozenset[str] = frozenset()
) -> Iterator[Document]:
    """Parse every document of a YAML stream; raises SourceError with a location on failure.

    ``scalar_tags`` are local tags (``!vault``) accepted on scalars as :class:`TaggedScalar`;
    any other tag is still an error.
    """
    try:
        loader = _loader(text, path)
        conv = _Converter(path, scalar_tags)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                conv.next_document()
                conv.doc.data = conv.convert(node, ())
                yield conv.doc
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _loc(path, mark) if mark is not None else Location(path, 1, 1)
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise SourceError(Diagnostic(f"YAML syntax error: {message}", loc)) from None
    except yaml.reader.ReaderError:
        # not a MarkedYAMLError, and libyaml counts its position in bytes: find it ourselves
        bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
        pos = bad.start() if bad else 0
        before = text[:pos]
        loc = Location(path, before.count("\n") + 1, pos - before.rfind("\n"))
        what = f"#x{ord(text[pos]):04x} " if bad else ""
        raise SourceError(
            Diagnostic(f"YAML syntax error: control character {what}is not allowed", loc)
        ) from None
    except yaml.YAMLError as exc:
        raise SourceError(Diagnostic(f"YAML error: {exc}", Location(path, 1, 1))) from None


def read_text(path: Path) -> str:
    """Read a policy file within the size limit, as UTF-8; raises SourceError otherwise."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SourceError(
                Diagnostic(
                    f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit for policies",
                    Location(str(path), 1, 1),
                )
            )
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            Diagnostic(f"not UTF-8 text ({exc.reason})", Location(str(path), 1, 1))
        ) from None
    except OSError as exc:
        raise SourceError(
            Diagnostic(f"cannot read: {exc.strerror}", Location(str(path), 1, 1))
        ) from None


def load_file(path: Path, scalar_tags: frozenset[str] = frozenset()) -> list[Document]:
    """All documents of one YAML file (empty documents skipped)."""
    text = read_text(path)
    return [d for d in parse_documents(text, str(path), scalar_tags) if d.data is not None]


def expand_paths(paths: list[str]) -> list[Path]:
    """Policy files from files and folders (``*.yml``/``*.yaml``, recursively, sorted)."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(
                sorted(q for q in path.rglob("*") if q.suffix in (".yml", ".yaml") and q.is_file())
            )
        else:
            out.append(path)
    return out
