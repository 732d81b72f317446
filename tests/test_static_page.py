"""The page's static files: what index.html preloads is what its modules import at start."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "workbench" / "web" / "static"
ENTRY = "app.js"
LOADED_AT_START = {"tasks.js"}  # imported by app.js with import() as the page starts (the task picker)


def imports_of(module: str) -> set[str]:
    source = (STATIC / module).read_text(encoding="utf-8")
    return set(re.findall(r'^import [^;]*? from "\./([\w.-]+\.js)";', source, flags=re.MULTILINE | re.DOTALL))


def test_index_preloads_exactly_the_modules_the_page_starts_with():
    wanted: set[str] = set()
    todo = [ENTRY, *LOADED_AT_START]
    while todo:
        module = todo.pop()
        for name in imports_of(module) - wanted:
            wanted.add(name)
            todo.append(name)
    wanted |= LOADED_AT_START
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/static/([\w.-]+\.js)">', html))
    assert preloaded == wanted - {ENTRY}
    assert 'import("./tasks.js")' in (STATIC / ENTRY).read_text(encoding="utf-8")
