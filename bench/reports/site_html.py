"""The report's HTML: plain pages, one stylesheet and one script (a click on a header sorts a table),
all written beside the pages; nothing is fetched from elsewhere."""

from __future__ import annotations

import html

CSS = """body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1150px;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th:first-child,td:first-child{text-align:left}
table.sortable th{cursor:pointer;background:#f2f2f2}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
.item{border-top:1px solid #ddd;padding:.6em 0}.item h4{margin:.2em 0;font-family:monospace}
.players{display:flex;flex-wrap:wrap;gap:1em}.players figure{margin:0}
.players figcaption{font-size:12px;color:#555}audio{width:260px}
.badge{display:inline-block;background:#fde0dd;border-radius:3px;padding:0 4px;margin-right:4px;
font-size:12px}
img{max-width:100%}.note{color:#555;font-size:13px}
"""

JS = """"use strict";
function cellKey(row, column) {
  const cell = row.cells[column];
  const raw = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim();
  const number = parseFloat(raw);
  return raw === "" ? null : (isNaN(number) ? raw : number);
}
function sortBy(table, th, column) {
  const direction = th.dataset.dir === "asc" ? "desc" : "asc";
  table.querySelectorAll("th").forEach(h => delete h.dataset.dir);
  th.dataset.dir = direction;
  const sign = direction === "asc" ? 1 : -1;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = cellKey(a, column), y = cellKey(b, column);
    if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
    if (typeof x === typeof y) { return sign * (x < y ? -1 : x > y ? 1 : 0); }
    return sign * (typeof x === "number" ? -1 : 1);
  });
  rows.forEach(r => body.appendChild(r));
}
document.querySelectorAll("table.sortable").forEach(table => {
  table.querySelectorAll("thead th").forEach((th, column) => {
    th.addEventListener("click", () => sortBy(table, th, column));
  });
});
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="icon" href="data:,">',
            f"<title>{esc(title)}</title>",
            '<link rel="stylesheet" href="assets/site.css">',
            "</head><body>",
            *body,
            '<script src="assets/site.js"></script>',
            "</body></html>",
        ]
    )


def number(value, digits: int = 3) -> tuple[str, str]:
    """(shown text, sort value) of a cell."""
    if value is None or (isinstance(value, float) and value != value):
        return "–", ""
    if isinstance(value, (int, float)):
        text = f"{value:.2e}" if isinstance(value, float) and 0 < abs(value) < 1e-3 else f"{value:.{digits}f}"
        return text, repr(float(value))
    return str(value), str(value)


def table(header: list[str], rows: list[list], sortable: bool = True, table_id: str | None = None) -> str:
    """Cells are plain values (escaped) or (HTML, sort value) pairs."""
    attributes = (' class="sortable"' if sortable else "") + (f' id="{esc(table_id)}"' if table_id else "")
    lines = [
        f"<table{attributes}><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>"
    ]
    lines.append("<tbody>")
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, tuple):  # (HTML, sort value)
                text, key = cell
            else:
                text, key = number(cell)
                text = esc(text)
            cells.append(f'<td data-v="{esc(key)}">{text}</td>')
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def player(src: str, caption: str) -> str:
    return (
        f"<figure><figcaption>{esc(caption)}</figcaption>"
        f'<audio controls preload="metadata" src="{esc(src)}"></audio></figure>'
    )
