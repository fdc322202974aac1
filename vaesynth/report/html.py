"""A static, self-contained HTML page: sections of figures (with captions), audio players, tables and
notes. Files are referenced by relative paths so the folder can be moved or zipped; text is escaped."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.8em; }
figure { margin: 0.8em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption, .note { font-size: 0.9em; color: #555; max-width: 70em; }
.note { background: #fff6e0; padding: 0.4em 0.7em; border-left: 3px solid #e0a000; }
table { border-collapse: collapse; font-size: 0.92em; margin: 0.6em 0; }
td, th { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sounds { display: flex; flex-wrap: wrap; gap: 1em; } .sound { min-width: 18em; }
.side { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.side figure { flex: 1 1 30em; }
"""


def esc(text) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class Section:
    """One heading and its content, as HTML fragments in order."""

    title: str
    parts: list[str] = field(default_factory=list)

    def figure(self, src: str, caption: str, alt: str = "") -> None:
        self.parts.append(
            f'<figure><img src="{esc(src)}" alt="{esc(alt or caption)}" loading="eager">'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )

    def figures_side_by_side(self, items: list[tuple[str, str]]) -> None:
        """items: (src, caption) shown in one row that wraps."""
        inner = "".join(
            f'<figure><img src="{esc(s)}" alt="{esc(c)}"><figcaption>{esc(c)}</figcaption></figure>'
            for s, c in items
        )
        self.parts.append(f'<div class="side">{inner}</div>')

    def audio(self, items: list[tuple[str, str]]) -> None:
        """items: (src, label) as audio players."""
        inner = "".join(
            f'<div class="sound"><div>{esc(label)}</div>'
            f'<audio controls preload="metadata" src="{esc(src)}"></audio></div>'
            for src, label in items
        )
        self.parts.append(f'<div class="sounds">{inner}</div>')

    def text(self, text: str) -> None:
        self.parts.append(f"<p>{esc(text)}</p>")

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{esc(text)}</p>')

    def table(self, header: list[str], rows: list[list], table_id: str = "") -> None:
        """rows: cells as (text, value) pairs or plain text. A cell's value, when given, is written
        unrounded to its data-value attribute (scripts can read the exact number)."""
        head = "".join(f"<th>{esc(h)}</th>" for h in header)
        body = []
        for row in rows:
            cells = []
            for c in row:
                if isinstance(c, tuple):
                    shown, value = c
                    attr = "" if value is None else f' data-value="{esc(repr(value))}"'
                    cells.append(f'<td class="num"{attr}>{esc(shown)}</td>')
                else:
                    cells.append(f"<td>{esc(c)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        tid = f' id="{esc(table_id)}"' if table_id else ""
        self.parts.append(f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def render_page(title: str, intro: list[str], sections: list[Section]) -> str:
    """The whole page as a string: title, intro paragraphs, a table of contents, the sections."""
    toc = "".join(f'<li><a href="#s{i}">{esc(s.title)}</a></li>' for i, s in enumerate(sections))
    body = "".join(
        f'<section id="s{i}"><h2>{esc(s.title)}</h2>{"".join(s.parts)}</section>'
        for i, s in enumerate(sections)
    )
    intro_html = "".join(f"<p>{esc(p)}</p>" for p in intro)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1>{intro_html}<ul>{toc}</ul>{body}</body></html>\n"
    )


def write_page(path: Path, title: str, intro: list[str], sections: list[Section]) -> Path:
    path = Path(path)
    path.write_text(render_page(title, intro, sections), encoding="utf-8")
    return path
