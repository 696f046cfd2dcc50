"""DigestContent as documents: Markdown and standalone HTML from templates/digests, and the content hash."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Any, Literal

from markupsafe import Markup, escape

from bot.common.templates import Templates
from bot.digest.measures import one_line
from bot.digest.views import DigestContent

DocumentFormat = Literal["md", "html"]

TEMPLATES: dict[tuple[str, DocumentFormat], str] = {
    ("weekly", "md"): "digests/weekly.md.j2",
    ("weekly", "html"): "digests/weekly.html.j2",
    ("risk-report", "md"): "digests/risk_report.md.j2",
    ("risk-report", "html"): "digests/risk_report.html.j2",
}


# Markdown and HTML list at most this many items per section (then "…and N more"): a digest is read, not searched.
DOCUMENT_LIST_MAX = 50


@cache
def _templates() -> Templates:
    # The Markdown and HTML templates escape with md()/cell() and autoescape blocks: they need no filters.
    return Templates()


def summary_shown(digest: DigestContent, summary_override: str | None) -> str:
    """The summary a render shows: the reviewer's edit when there is one, else the composed summary."""
    return summary_override.strip() if summary_override and summary_override.strip() else digest.summary


def render_digest(
    digest: DigestContent,
    *,
    fmt: DocumentFormat,
    summary_override: str | None = None,
    chart_urls: Mapping[str, str] | None = None,
) -> str:
    """The digest as Markdown or a standalone HTML page (charts as data: URIs unless URLs are given)."""
    urls = dict(chart_urls or {})
    if fmt == "html":
        sources = {
            c.metric_id: urls.get(c.metric_id) or "data:image/png;base64," + base64.b64encode(c.png).decode("ascii")
            for c in digest.charts
        }
    else:
        sources = {c.metric_id: urls.get(c.metric_id) or f"charts/{c.metric_id}.png" for c in digest.charts}
    return (
        _templates().render(
            TEMPLATES[(digest.kind, fmt)],
            d=digest,
            summary=summary_shown(digest, summary_override),
            chart_src=sources,
            summary_md=summary_markdown(summary_shown(digest, summary_override)),
            summary_html=summary_html(summary_shown(digest, summary_override)),
            md=md_escape,
            cell=md_cell,
            num=number,
            limit=DOCUMENT_LIST_MAX,
        )
        + "\n"
    )


def md_escape(value: object) -> str:
    """Backslash-escape the characters Markdown would read as formatting, links or HTML."""
    return _md_chars(one_line(str(value)))


def _md_chars(text: str) -> str:
    return re.sub(r"([\\`*_\[\]<>|#~])", r"\\\1", text)


# Slack mrkdwn emphasis as Slack reads it (and localslack): *bold*, _italic_, ~strike~ on one line, the markers
# touching the text inside and standing apart from the words outside. Reviewers write the summary in Slack.
_EMPHASIS = re.compile(
    r"(?<![\w*])\*(?P<bold>[^\s*](?:[^*\n]*?[^\s*])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^\s_](?:[^_\n]*?[^\s_])?)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^\s~](?:[^~\n]*?[^\s~])?)~(?![\w~])"
)
_MARKDOWN = {"bold": "**{}**", "italic": "*{}*", "strike": "~~{}~~"}
_HTML = {"bold": "<strong>{}</strong>", "italic": "<em>{}</em>", "strike": "<s>{}</s>"}


def _emphasis(text: str, escape_text: Callable[[str], str], wrap: Mapping[str, str]) -> str:
    out, pos = [], 0
    for match in _EMPHASIS.finditer(text):
        kind = str(match.lastgroup)
        out += [escape_text(text[pos : match.start()]), wrap[kind].format(escape_text(match[kind]))]
        pos = match.end()
    out.append(escape_text(text[pos:]))
    return "".join(out)


def summary_markdown(text: str) -> str:
    """The summary (Slack mrkdwn, perhaps a reviewer's) in Markdown: its emphasis kept, everything else escaped."""
    return _emphasis(one_line(text), _md_chars, _MARKDOWN)


def summary_html(text: str) -> Markup:
    """The summary (Slack mrkdwn, perhaps a reviewer's) as HTML: its emphasis kept, everything else escaped."""
    return Markup(_emphasis(one_line(text), lambda part: str(escape(part)), _HTML))


def md_cell(value: object) -> str:
    """Text safe in a Markdown table cell (empty cells show a dash)."""
    text = md_escape(value)
    return text if text else "—"


def number(value: float) -> str:
    """A result value with four significant digits."""
    return f"{value:.4g}"


def content_hash(text: str, data: Mapping[str, Any]) -> str:
    """SHA-256 over the rendered text and the canonical JSON of the data it came from."""
    digest = hashlib.sha256(text.encode("utf-8") + b"\x00")
    # Fed piece by piece: a large digest's JSON runs to megabytes, and the whole string (and its bytes) would be the
    # compose's peak memory. The pieces join to exactly json.dumps(data, sort_keys=True, separators=(",", ":")).
    for piece in _canonical_pieces(data):
        digest.update(piece.encode("utf-8"))
    return digest.hexdigest()


# Long lists are encoded this many items at a time: few enough calls to stay fast, small enough pieces to stay lean.
HASH_BATCH = 1000


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def _canonical_pieces(value: Any) -> Iterator[str]:
    """The canonical JSON of `value` in pieces: dicts key by key, long lists a batch of items at a time."""
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        yield "{"
        for n, key in enumerate(sorted(value)):
            yield ("," if n else "") + _canonical(key) + ":"
            yield from _canonical_pieces(value[key])
        yield "}"
    elif isinstance(value, list | tuple) and len(value) > HASH_BATCH:
        yield "["
        for first in range(0, len(value), HASH_BATCH):
            # A batch's JSON without its brackets is exactly its items' part of the whole list's JSON.
            yield ("," if first else "") + _canonical(list(value[first : first + HASH_BATCH]))[1:-1]
        yield "]"
    else:
        yield _canonical(value)
