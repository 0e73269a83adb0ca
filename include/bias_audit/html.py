"""What the report and the trend page share: the Jinja2 templates, number formatting, figures.

Templates are autoescaped: the pages show model output, which must be shown as text, never run
as markup.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jinja2
import markupsafe

# Airflow's UI keeps its light/dark choice in the browser (next-themes: localStorage "theme", one
# of light, dark, system). The pages are on Airflow's origin, so this reads it and sets
# data-theme on <html>, which the style follows (without it, or on "system", the browser's own
# preference). The one script the pages run: their Content-Security-Policy allows exactly this
# text by its hash (web.SECURITY_HEADERS), never any script a page's content might hold.
THEME_SCRIPT = (
    "try{var t=localStorage.getItem('theme');if(t==='dark'||t==='light')"
    "document.documentElement.setAttribute('data-theme',t)}catch(e){}"
)
THEME_SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(THEME_SCRIPT.encode()).digest()).decode()


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bias_audit", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["theme_script"] = markupsafe.Markup(THEME_SCRIPT)
    return env


def marked(text: str | None, evidence: str | None) -> markupsafe.Markup:
    """An answer as written, escaped, with the words that decided its assumed gender (the features'
    ``gender_evidence``, "; "-separated) in <mark>: every occurrence of each phrase, whole words,
    case aside."""
    text = text or ""
    spans: list[tuple[int, int]] = []
    for phrase in dict.fromkeys(p.strip() for p in (evidence or "").split(";") if p.strip()):
        pattern = r"(?<![\w@])" + r"\s+".join(re.escape(w) for w in phrase.split()) + r"(?![\w@])"
        for match in re.finditer(pattern, text, flags=re.IGNORECASE):
            if not any(a < match.end() and match.start() < b for a, b in spans):
                spans.append(match.span())
    return marked_spans(text, spans)


def marked_spans(text: str, spans: list[tuple[int, int]]) -> markupsafe.Markup:
    """``text`` escaped, with the given (start, end) spans in <mark>."""
    out, at = [], 0
    for start, end in sorted(spans):
        out.append(
            markupsafe.escape(text[at:start]) + markupsafe.Markup("<mark>{}</mark>").format(text[start:end])
        )
        at = end
    out.append(markupsafe.escape(text[at:]))
    return markupsafe.Markup("").join(out)


def fmt(value: Any) -> str:
    """A number as shown in a table: three significant digits, a dash for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def subplots(*args: Any, **kwargs: Any):
    """matplotlib's subplots on the Agg backend (no display on workers and servers)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt.subplots(*args, **kwargs)


def threshold_bands(ax: Any, warn: float | None, fail: float | None, *, alpha: float = 0.4) -> None:
    """A plot of a metric's gaps: its warn band shaded, its fail thresholds dotted, the zero line
    (the report's and the trend page's plots alike)."""
    if warn:
        ax.axhspan(-warn, warn, color="#a5d6a7", alpha=alpha)
    if fail:
        for level in (-fail, fail):
            ax.axhline(level, color="#c62828", linestyle=":", linewidth=0.8)
    ax.axhline(0, color="#555", linewidth=0.6)


def png(fig, dpi: int = 110) -> bytes:
    from matplotlib import pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


@dataclass(frozen=True)
class Figure:
    """A figure of the report: its file beside the report, its caption (text, or made from the
    run's data), how it is drawn from the run's data (report/read.py's RunData) and whether the run
    has it. The report shows its own figures and a task kind's (tasks/) in one ordered list."""

    file: str
    caption: str | Callable[[Any], str]
    draw: Callable[[Any], Any]
    applies: Callable[[Any], bool] = lambda data: True

    def caption_of(self, data: Any) -> str:
        return self.caption(data) if callable(self.caption) else self.caption
