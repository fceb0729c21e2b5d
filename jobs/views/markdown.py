"""Result markdown → HTML that is safe to put in a page.

A job's result comes from a template's report step, so it may carry anything a variable
value or a step's output carried — including markup. Python-Markdown renders it (raw
HTML passes through), then nh3 keeps only an allow-list of tags and attributes, drops
`<script>`/`<style>` with their content, and keeps links only for http, https and
mailto (a `javascript:` href loses its href). The page's Content-Security-Policy is the
second wall behind this one.
"""

import re

import markdown as markdown_lib
import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p",
    "pre", "s", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
EXTENSIONS = ["tables", "fenced_code", "sane_lists"]


HEADING_RE = re.compile(r"<(/?)h([1-6])>")


def _shift_headings(html, by):
    # Tags are bare after nh3 (no attribute is allowed on headings), so this is exact.
    return HEADING_RE.sub(lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + by, 6)}>", html)


def render_markdown(text, heading_shift=2):
    """Sanitized HTML for `text` (a str); "" for nothing. Headings move down by
    `heading_shift` levels, so a result's "# Title" sits below the page's own h1 and h2."""
    if not text:
        return ""
    html = markdown_lib.markdown(text, extensions=EXTENSIONS, output_format="html")
    html = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return _shift_headings(html, heading_shift) if heading_shift else html
