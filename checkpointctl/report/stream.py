"""A report written as its hosts finish, in every format, the same bytes as :func:`render`.

A fleet of ten thousand hosts should not cost the controller ten thousand results held until
the end. :class:`ReportStream` renders each host's part the moment the engine hands it over
(:func:`checkpointctl.engine.run.stream_fleet`, in the hosts' order) with the renderer's own
per-host functions and keeps only the bytes, in a spool that stays in memory while small and
moves to an unnamed temporary file past :data:`SPOOL_IN_MEMORY`, plus a
:class:`~checkpointctl.report.summary.Tally` for what depends on the whole run (the exit code,
the counts, the summary line). :meth:`ReportStream.chunks` then gives the document in pieces:
the head that needs the tally (JSON's ``exit_code`` sorts before ``hosts``, JUnit's totals are
attributes of the root, the HTML page's summary and filters come before its hosts), the
spooled hosts, the tail.

The HTML page spools each part that grows with the fleet (the host table's groups, the
details, the findings, the privacy rows: :class:`~checkpointctl.report.html.RunPage`). The
Markdown comment lists at most :data:`~checkpointctl.report.markdown.MAX_TABLE_ROWS` hosts, so
it keeps only the hosts it may still list (:class:`~checkpointctl.report.markdown.Listing`)
and needs no spool.

The bytes equal :func:`checkpointctl.report.render` of the same report (tests pin it), so a
streamed report and a rendered one are interchangeable for every reader.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import IO, TYPE_CHECKING, Literal, Self

from checkpointctl.model import HostResult, RunMode, RunReport, host_to_json, report_to_json
from checkpointctl.model.provenance import DriftOrigin
from checkpointctl.report.jsonfmt import render_json_value
from checkpointctl.report.markdown import Listing, MarkdownHost, markdown_document, markdown_host
from checkpointctl.report.recap import TITLE, host_recap, recap_line, recap_width
from checkpointctl.report.summary import Tally
from checkpointctl.report.text import host_text, recap_painter, summary_text

if TYPE_CHECKING:
    from checkpointctl.report.html import RunPage

StreamFormat = Literal["text", "json", "junit", "markdown", "html"]
STREAMED: tuple[StreamFormat, ...] = ("text", "json", "junit", "markdown", "html")
"""The formats a report can be streamed in."""
SPOOL_IN_MEMORY = 1 << 20
"""Bytes of rendered hosts kept in memory before the spool moves to a temporary file."""
_READ = 1 << 16

_JSON_HOSTS = '"hosts": []'
_JSON_INDENT = "    "
"""A host of the JSON report sits two levels deep (the document, its ``hosts`` list)."""


class ReportStream:
    """One report, fed host by host (:meth:`add`, from one thread), read once at the end."""

    def __init__(
        self,
        mode: RunMode,
        fmt: StreamFormat,
        *,
        names: Iterable[str] = (),
        fail_on: frozenset[DriftOrigin] | None = None,
        color: bool = False,
    ) -> None:
        """``names``: the hosts that will be added (the text recap pads them to one width);
        ``color``: ANSI colour for the text format, as :func:`render`'s."""
        if fmt not in STREAMED:
            raise ValueError(f"format {fmt!r} is not streamed (streamed: {', '.join(STREAMED)})")
        self.fmt = fmt
        self.tally = Tally(mode, fail_on)
        self._color = color
        self._width = recap_width(names)
        # owned by the stream, closed by close() (the stream is the context manager)
        self._hosts: IO[bytes] = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115
        self._recap: IO[bytes] = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115
        self._junit_totals: Counter[str] = Counter()
        self._listing: Listing[MarkdownHost] = Listing()
        self._page: RunPage | None = None
        if fmt == "html":
            # imported here: the page brings the status tables, which other formats never need
            from checkpointctl.report.html import RunPage

            self._page = RunPage(mode, fail_on=fail_on, spool=_text_spool)

    def add(self, host: HostResult) -> None:
        """Render ``host``'s part now and count it; the result is not kept."""
        alone = RunReport(mode=self.tally.mode, hosts=(host,), fail_on=self.tally.fail_on)
        first = self.tally.hosts == 0
        self.tally.add(host)
        if self.fmt == "json":
            text = render_json_value(host_to_json(host)).replace("\n", "\n" + _JSON_INDENT)
            self._put(self._hosts, ("" if first else ",\n") + _JSON_INDENT + text)
        elif self.fmt == "markdown":
            part = markdown_host(alone, host)
            self._listing.add(part, part.quiet)
        elif self._page is not None:
            self._page.add(host)
        elif self.fmt == "junit":
            import xml.etree.ElementTree as ET

            from checkpointctl.report.junit import junit_suite

            suite, counts = junit_suite(alone, host)
            self._junit_totals.update(counts)
            ET.indent(suite, level=1)
            self._put(self._hosts, "\n  " + ET.tostring(suite, encoding="unicode"))
        else:
            self._put(
                self._hosts, ("" if first else "\n\n") + host_text(alone, host, color=self._color)
            )
            line = recap_line(host_recap(alone, host), self._width, recap_painter(self._color))
            self._put(self._recap, "\n" + line)
        if self.fmt != "text":
            line = recap_line(host_recap(alone, host), self._width)
            self._put(self._recap, "\n" + line)

    def exit_code(self, halted: str | None = None) -> int:
        """The run's exit code (``RunReport.exit_code``) from the hosts added."""
        return self.tally.exit_code(halted)

    def summary_line(self, halted: str | None = None) -> str:
        """The run's summary line (``summary_line``) from the hosts added."""
        return self.tally.line(halted)

    def chunks(self, halted: str | None = None) -> Iterator[bytes]:
        """The whole document, UTF-8, in pieces (each call reads the spools from the start)."""
        if self.fmt == "json":
            yield from self._json(halted)
        elif self.fmt == "junit":
            yield from self._junit()
        elif self.fmt == "markdown":
            summary = self.tally.line(halted)
            yield markdown_document(self.tally.mode, summary, self._listing).encode()
        elif self._page is not None:
            yield from (piece.encode() for piece in self._page.chunks(halted))
        else:
            yield from self._text(halted)

    def recap(self) -> Iterator[bytes]:
        """The recap (``recap_lines``), each line ending with a newline; nothing without hosts."""
        if self.tally.hosts:
            yield TITLE.encode()
            yield from _read(self._recap)
            yield b"\n"

    def close(self) -> None:
        """Drop the spools (a spool on disk is a temporary file, removed on close)."""
        self._hosts.close()
        self._recap.close()
        if self._page is not None:
            self._page.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _json(self, halted: str | None) -> Iterator[bytes]:
        empty = RunReport(mode=self.tally.mode, hosts=(), halted=halted, fail_on=self.tally.fail_on)
        doc = report_to_json(empty)
        doc["exit_code"] = self.exit_code(halted)
        doc["summary"] = dict(self.tally.statuses)
        head, tail = render_json_value(doc).split(_JSON_HOSTS, 1)
        if not self.tally.hosts:
            yield (head + _JSON_HOSTS + tail + "\n").encode()
            return
        yield (head + '"hosts": [\n').encode()
        yield from _read(self._hosts)
        yield ("\n  ]" + tail + "\n").encode()

    def _junit(self) -> Iterator[bytes]:
        # imported by a JUnit report only: a drift to text or JSON never loads xml.etree
        import xml.etree.ElementTree as ET

        from checkpointctl.report.junit import XML_DECLARATION, junit_root

        root = junit_root(self.tally.mode, self._junit_totals, self.tally.seconds)
        if not self.tally.hosts:
            yield (XML_DECLARATION + ET.tostring(root, encoding="unicode") + "\n").encode()
            return
        empty = ET.tostring(root, encoding="unicode")
        yield (XML_DECLARATION + empty[: -len(" />")] + ">").encode()
        yield from _read(self._hosts)
        yield b"\n</testsuites>\n"

    def _text(self, halted: str | None) -> Iterator[bytes]:
        yield from _read(self._hosts)
        gap = "\n\n" if self.tally.hosts else ""
        if self.tally.hosts:
            yield f"{gap}{TITLE}".encode()
            yield from _read(self._recap)
        yield (gap + summary_text(self.tally.line(halted), color=self._color) + "\n").encode()

    @staticmethod
    def _put(spool: IO[bytes], text: str) -> None:
        spool.write(text.encode())


def _read(spool: IO[bytes]) -> Iterator[bytes]:
    spool.seek(0)
    while chunk := spool.read(_READ):
        yield chunk


def _text_spool() -> IO[str]:
    """An empty text spool for the HTML page's parts: in memory while small, then an unnamed
    temporary file (mode 0600, gone when closed or when the process ends)."""
    return tempfile.SpooledTemporaryFile(  # closed by RunPage.close
        SPOOL_IN_MEMORY, mode="w+", encoding="utf-8", errors="surrogatepass", newline=""
    )
