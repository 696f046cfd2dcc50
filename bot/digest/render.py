"""DigestContent renders: Markdown, HTML and Slack text from templates/digests, and the content hash."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.common.limits import SLACK_LIST_MAX
from bot.digest.measures import one_line
from bot.digest.views import CountTable, DigestContent, Format
from bot.slack.text import render, slack_escape

# ---------------------------------------------------------------------------------------------------------------
# Rendering


TEMPLATES: dict[tuple[str, str], str] = {
    ("weekly", "slack"): "digests/weekly.slack.j2",
    ("weekly", "md"): "digests/weekly.md.j2",
    ("weekly", "html"): "digests/weekly.html.j2",
    ("risk-report", "slack"): "digests/risk_report.slack.j2",
    ("risk-report", "md"): "digests/risk_report.md.j2",
    ("risk-report", "html"): "digests/risk_report.html.j2",
}


# Markdown and HTML list at most this many items per section (then "…and N more"): a digest is read, not searched.
DOCUMENT_LIST_MAX = 50


def render_digest(
    digest: DigestContent,
    *,
    fmt: Format,
    summary_override: str | None = None,
    chart_urls: Mapping[str, str] | None = None,
) -> str:
    """The digest as Slack mrkdwn, Markdown or a standalone HTML page (charts as data: URIs unless URLs are given)."""
    urls = dict(chart_urls or {})
    if fmt == "html":
        sources = {
            c.metric_id: urls.get(c.metric_id) or "data:image/png;base64," + base64.b64encode(c.png).decode("ascii")
            for c in digest.charts
        }
    else:
        sources = {c.metric_id: urls.get(c.metric_id) or f"charts/{c.metric_id}.png" for c in digest.charts}
    summary = summary_override.strip() if summary_override and summary_override.strip() else digest.summary
    return (
        render(
            TEMPLATES[(digest.kind, fmt)],
            d=digest,
            summary=summary,
            chart_src=sources,
            md=md_escape,
            cell=md_cell,
            esc=slack_escape,
            num=number,
            fixed=fixed_table,
            more=SLACK_LIST_MAX,
            limit=DOCUMENT_LIST_MAX,
        )
        + "\n"
    )


def md_escape(value: object) -> str:
    """Backslash-escape the characters Markdown would read as formatting, links or HTML."""
    return re.sub(r"([\\`*_\[\]<>|#~])", r"\\\1", one_line(str(value)))


def md_cell(value: object) -> str:
    """Text safe in a Markdown table cell (empty cells show a dash)."""
    text = md_escape(value)
    return text if text else "—"


def number(value: float) -> str:
    """A result value with four significant digits."""
    return f"{value:.4g}"


def fixed_table(table: CountTable) -> str:
    """A severity by category table in fixed-width text (for a Slack code block)."""
    header = ["severity", *table.categories, "total"]
    body = [[row.severity, *map(str, row.counts), str(row.total)] for row in table.rows]
    body.append(["total", *map(str, table.column_totals), str(table.total)])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join(line(cells).rstrip() for cells in [header, *body])


def content_hash(text: str, data: Mapping[str, Any]) -> str:
    """SHA-256 over the rendered text and the canonical JSON of the data it came from."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8") + b"\x00" + canonical.encode("utf-8")).hexdigest()
