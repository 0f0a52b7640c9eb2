"""User-provided strings (run names, spec names, CSV paths and columns, sweep ids) as inert, capped text.

The app is served to whole classes, so a string one visitor typed is drawn in every other visitor's
browser. Three renderers would otherwise interpret it:
- HiPlot's table inserts cell text as HTML inside a same-origin iframe → `safe_text` (HTML-escaped);
- Plotly legends, hover labels and titles accept a subset of HTML (`<a href>`, `<br>`, …) → `safe_text`
  (Plotly decodes the entities back to the literal characters when it draws);
- Streamlit's markdown (st.markdown, captions, st.error/success…) renders links, images, `:color[…]`
  directives and `$…$` math → `plain_markdown` (every ASCII punctuation mark backslash-escaped, which
  CommonMark defines as the literal character).
Widgets that take plain text (selectbox labels via format_func, st.dataframe, st.text) need no escaping.
"""
from __future__ import annotations

import html
import re

NAME_CHARS = 80  # run names, spec names and sweep ids are shown at most this long
TEXT_CHARS = 300  # longer free text (messages that quote a user's value, CSV paths)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # newlines, tabs, escapes: one space each run
# the marks that start markdown, HTML, entities, directives (:red[…], :material/x:), math ($…$) or autolinks
# (https://…, www.…); quotes, commas and the like stay as they are so messages read (and test) naturally
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()<>#+!|~$:&.^])")

# GFM turns bare "https://…", "www.…" and "a@b.c" into links even when escaped (it links text, after parsing):
# an invisible word joiner inside the marker ("https:⁠//", "www⁠.", "a@⁠b") keeps them plain text
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)[a-z]:/|\bwww\.|@[^\s@]")


def clip(value, cap: int = NAME_CHARS) -> str:
    """str(value) on one line (control characters → a space), cut to `cap` characters ending in "…"."""
    text = _CONTROL.sub(" ", "" if value is None else str(value))
    return text if len(text) <= cap else text[:cap - 1] + "…"


def safe_text(value, cap: int = NAME_CHARS) -> str:
    """Clipped and HTML-escaped (& < > " '): shows literally wherever HTML is parsed (HiPlot, Plotly).
    Quotes become numeric references (&#34; &#x27;): Plotly decodes those but not the named &quot;."""
    return html.escape(clip(value, cap), quote=True).replace("&quot;", "&#34;")


def plain_markdown(value, cap: int = NAME_CHARS) -> str:
    """Clipped, markdown's marks backslash-escaped: literal text inside Streamlit markdown
    (no link, autolink, image, emphasis, HTML, `:color[…]` directive or `$…$` math can form)."""
    text = _AUTOLINK.sub(lambda m: m.group(0)[:-1] + WORD_JOINER + m.group(0)[-1], clip(value, cap))
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
