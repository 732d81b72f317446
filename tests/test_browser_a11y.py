"""Accessibility in real Chromium: axe-core finds no serious or critical violation on the main view, its
menus and panels, every dialog and review mode; every control has a name made of words (not only emoji),
toggles say whether they are pressed, and the main actions work from the keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_browser import CHROMIUM, add_model, workbench
from tests.test_browser import _stop_servers, browser, fake, page  # noqa: F401 (fixtures)
from tests.test_browser_columns import call

AXE = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
MODELS = {"gemma": "Gemma 3 4B", "olmo": "OLMo 2 7B", "qwen": "Qwen 2.5 7B"}

pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium"),
              pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (make a11y-deps)")]


def three_model_scene(tab, tmp_path, server) -> str:
    """The bundled sample run by three models that answer differently, with some golden marks, a wrong and a
    fix (so Metrics has labels to score against); the page left on the main view. Returns the server URL."""
    from workbench.service.workspace import sample_path

    server.config.latency_ms = 1
    url = workbench(tmp_path, "import\x00" + str(sample_path()),
                    *(add_model(model, name, server.base_url) for model, name in MODELS.items()))
    tab.goto(url)
    tab.fill("#user-name", "Ana")
    tab.press("#user-name", "Enter")
    tab.wait_for_selector("#dataset-count:has-text('100 records')")
    for model in MODELS:
        tab.check(f"input[data-model={model}]")
    tab.click("#run-selected")
    tab.wait_for_function(f"document.querySelectorAll('.job .status.completed').length === {len(MODELS)}",
                           timeout=60_000)
    tab.wait_for_function("document.querySelectorAll('.row .cell .pending').length === 0 && "
                           "document.querySelectorAll('.row .cell .verdict').length > 10")
    dataset = call(url, "/api/datasets")[0]["id"]
    marks = [("cand-000001", "gemma", "golden", True), ("cand-000002", "olmo", "golden", True),
             ("cand-000003", "gemma", "judgement", "wrong"), ("cand-000004", "qwen", "golden", True),
             ("cand-000006", "gemma", "golden", True), ("cand-000007", "olmo", "judgement", "good"),
             ("cand-000002", "gemma", "correction", {"recommendation": "No", "trajectory": "Average",
                                                     "pedigree": "Average", "reasoning": "Short tenures."})]
    for record, model, field, value in marks:
        call(url, "/api/annotations", "POST", {"dataset_id": dataset, "record_id": record, "model_id": model,
                                               "field": field, "value": value, "author": "Ana"})
    tab.wait_for_function("document.querySelectorAll('.row .cell .acts button.on').length >= 6", timeout=10_000)
    tab.click("#compare")
    tab.wait_for_selector("#compare-panel:not([hidden]) table")
    return url


def axe_problems(tab, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """The violations of these impacts, each with the nodes it names (for the failure message)."""
    if not tab.evaluate("typeof window.axe === 'object'"):
        tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("""async (impacts) => {
        const r = await axe.run(document, { resultTypes: ["violations"] });
        return r.violations.filter((v) => impacts.includes(v.impact)).map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary.replace(/\\s+/g, " ")}`) }));
    }""", list(impacts))
    return [f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']}" + listing(v["nodes"]) for v in result]


# Controls that can be reached and used (not hidden), whose name has no letter or digit: only emoji or
# symbols, which a screen reader reads as "star" or nothing at all.
UNNAMED = """() => {
    const visible = (e) => e.getClientRects().length && !e.closest("[hidden], [inert]");
    const nameOf = (e) => {
        if (e.getAttribute("aria-label")) return e.getAttribute("aria-label");
        const by = e.getAttribute("aria-labelledby");
        if (by) return by.split(/\\s+/).map((id) => document.getElementById(id)?.textContent || "").join(" ");
        if (e.labels && e.labels.length) return [...e.labels].map((l) => l.textContent).join(" ");
        if (e.matches("input[type=submit], input[type=button]")) return e.value;
        return e.textContent || e.getAttribute("title") || e.getAttribute("placeholder") || "";
    };
    const root = document.querySelector("dialog[open]") || (document.querySelector("#review:not([hidden])")) || document;
    return [...root.querySelectorAll("button, input, select, textarea, a[href], [role=button], [role=tab]")]
        .filter(visible).filter((e) => !/[\\p{L}\\p{N}]/u.test(nameOf(e)))
        .map((e) => e.outerHTML.slice(0, 160));
}"""

# Buttons that toggle something (a mark, a filter tab, a preference) must say whether they are on.
# Tabs say which one is selected. (A fix button opens a dialog: not a toggle.)
UNSTATED_TOGGLES = """() => {
    const shown = (e) => e.getClientRects().length && !e.closest("[hidden], [inert]");
    const toggles = [...document.querySelectorAll(".cell .acts button:not([data-act=edit]), "
        + "#review .marks-line button:not([data-review=edit]), #review .prefs button[data-prefer]")]
        .filter(shown).filter((b) => !["true", "false"].includes(b.getAttribute("aria-pressed")));
    const tabs = [...document.querySelectorAll("[role=tab]")].filter(shown)
        .filter((t) => !["true", "false"].includes(t.getAttribute("aria-selected")));
    return [...toggles, ...tabs].map((b) => b.outerHTML.slice(0, 160));
}"""


def listing(items: list[str], most: int = 12) -> str:
    more = f"\n    … and {len(items) - most} more" if len(items) > most else ""
    return "\n    " + "\n    ".join(items[:most]) + more


def check(tab, view: str, problems: dict[str, list[str]]) -> None:
    found = axe_problems(tab)
    unnamed = tab.evaluate(UNNAMED)
    if unnamed:
        found.append(f"controls named only by emoji or symbols ({len(unnamed)}):" + listing(unnamed))
    toggles = tab.evaluate(UNSTATED_TOGGLES)
    if toggles:
        found.append(f"toggles without aria-pressed, tabs without aria-selected ({len(toggles)}):" + listing(toggles))
    if found:
        problems[view] = found
    for line in axe_problems(tab, ("moderate", "minor")):  # not failures; shown with pytest -s
        print(f"[{view}] {line}")


def close_dialog(tab, selector: str) -> None:
    tab.keyboard.press("Escape")
    tab.wait_for_selector(selector, state="hidden")


def toggle(button: str, shown: str):
    """Opens and closes a menu with its button."""
    def action(tab, opened: bool) -> None:
        tab.click(button)
        tab.wait_for_selector(shown, state="hidden" if opened else "visible")
    return action


def dialog(opener: str, selector: str, ready: str):
    def action(tab, opened: bool) -> None:
        if opened:
            return close_dialog(tab, selector)
        tab.click(opener) if opener.startswith("#") else tab.locator(opener).first.click()
        tab.wait_for_function(ready)
        assert tab.evaluate(f"document.querySelector('{selector}').contains(document.activeElement)"), \
            f"focus is not in {selector} once it opens"
    return action


def record_panel(tab, opened: bool) -> None:
    if opened:
        tab.click("#detail-close")
        return tab.wait_for_selector("#detail", state="hidden")
    tab.locator(".row").nth(1).locator(".rec").click()
    tab.wait_for_function("""() => { const slots = [...document.querySelectorAll('#detail:not([hidden]) .trace-slot')];
        return slots.length === 3 && slots.every((s) => s.innerText.trim()); }""")


def open_review(tab, opener) -> None:
    """Opens review mode and waits for the record's data to be shown."""
    opener()
    tab.wait_for_selector("#review:not([hidden]) #review-body h1")
    tab.wait_for_function("!document.querySelector('#review-body pre').textContent.startsWith('loading')")


VIEWS = {  # each opened from the main view, checked, and closed again
    "record panel": record_panel,
    "export menu": toggle("#export", "#export-menu"),
    "column picker": toggle("#columns-button", "#columns-menu"),
    "Models dialog": dialog("#open-models", "#models-dialog", "document.querySelector('#models-dialog[open] #models-list li')"),
    "Metrics dialog": dialog("#open-metrics", "#metrics-dialog",
                             "document.querySelectorAll('#metrics-dialog[open] table').length >= 3"),
    "edit dialog": dialog(".row >> nth=0 >> .cell .acts button[data-act=edit]", "#edit-dialog",
                          "document.querySelector('#edit-dialog[open]')"),
    "task editor": dialog("#task-edit", "#task-dialog",
                          "document.querySelector('#task-dialog[open] #task-preview')?.textContent.trim().length > 0"),
}


def test_no_serious_axe_violations_anywhere(page, tmp_path, fake):  # noqa: F811 (fixtures)
    page.set_viewport_size({"width": 1440, "height": 900})
    three_model_scene(page, tmp_path, fake)
    problems: dict[str, list[str]] = {}
    assert page.query_selector_all(".row .diff")  # differences are highlighted
    check(page, "main view", problems)
    for view, action in VIEWS.items():
        action(page, opened=False)
        check(page, view, problems)
        action(page, opened=True)

    open_review(page, lambda: page.click("#open-review"))
    check(page, "review mode", problems)

    assert not problems, "\n\n".join(f"== {view}\n" + "\n".join(found) for view, found in problems.items())


def test_the_main_actions_work_from_the_keyboard(page, tmp_path, fake):  # noqa: F811 (fixtures)
    three_model_scene(page, tmp_path, fake)
    # Tab from the search box into the grid's buttons until a star of the first row has focus; Enter presses it.
    page.focus("#search")
    star = None
    for _ in range(200):
        page.keyboard.press("Tab")
        star = page.evaluate("""() => { const e = document.activeElement;
            return e && e.matches('.row .cell .acts button[data-act=golden]') ? e.outerHTML : null; }""")
        if star:
            break
    assert star, "no grid star is reachable with Tab"
    pressed = page.evaluate("document.activeElement.getAttribute('aria-pressed')")
    page.keyboard.press("Enter")
    page.wait_for_function("(was) => document.activeElement.getAttribute('aria-pressed') !== was "
                           "&& document.activeElement.matches('.cell .acts button')", arg=pressed)

    # Review mode: r opens it, g marks golden, the rest of the page is inert, Esc closes it.
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("r")
    page.wait_for_selector("#review:not([hidden])")
    assert page.evaluate("['header.topbar', '.layout', '#detail'].every((s) => document.querySelector(s).inert)")
    was = page.get_attribute("#review button[data-review=golden]", "aria-pressed")
    page.keyboard.press("g")
    page.wait_for_function("(was) => document.querySelector('#review button[data-review=golden]')"
                           ".getAttribute('aria-pressed') !== was", arg=was)
    page.keyboard.press("e")  # the fix dialog opens with focus inside; Esc closes it, review stays
    page.wait_for_selector("#edit-dialog[open]")
    assert page.evaluate("document.querySelector('#edit-dialog').contains(document.activeElement)")
    page.keyboard.press("Escape")
    page.wait_for_selector("#edit-dialog", state="hidden")
    assert page.is_visible("#review")
    page.keyboard.press("Escape")
    page.wait_for_selector("#review", state="hidden")
    assert page.evaluate("!['header.topbar', '.layout', '#detail'].some((s) => document.querySelector(s).inert)")

    # Dialogs close with Esc.
    for opener, dialog in (("#open-metrics", "#metrics-dialog"), ("#open-models", "#models-dialog")):
        page.click(opener)
        page.wait_for_selector(f"{dialog}[open]")
        close_dialog(page, dialog)
