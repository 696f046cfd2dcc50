"""The one Jinja configuration over templates/: each renderer builds its own with the filters its output needs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

# templates/ is at the root of a source checkout (parents[2]); a wheel ships it inside the package (bot/, parents[1]).
TEMPLATE_DIR = next(
    (base / "templates" for base in Path(__file__).resolve().parents[1:3] if (base / "templates").is_dir()),
    Path(__file__).resolve().parents[2] / "templates",
)


class Templates:
    """templates/ rendered with strict undefined names and no autoescape (HTML templates escape in their blocks)."""

    def __init__(self, filters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self._environment = Environment(
            loader=FileSystemLoader(str(TEMPLATE_DIR)),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            autoescape=False,
            # Templates ship with the code: checking each file's mtime on every render is work on every answer.
            auto_reload=False,
        )
        self._environment.filters.update(filters or {})

    def render(self, name: str, **context: Any) -> str:
        """Render templates/<name> and strip surrounding blank space."""
        return self._environment.get_template(name).render(**context).strip()
