"""The grid while a run streams (issue #15 items 1, 9, 13), in real Chromium: rows are patched in place,
so clicks held 250 ms, keyboard focus and typing all survive a stream of ~1,000 results/s while another
client annotates the visible records; columns size to their content at 1440 px."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, workbench
from tests.test_browser_columns import call
from tests.test_browser import _stop_servers, browser, fake, page  # noqa: F401 (fixtures)
from testkit.synthetic import write_jsonl
from workbench.service.samples import sample_path

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")
RECORDS = 40_000  # at ~1,000-3,000 results/s the stream outlasts the actions
AUTHOR = "Ann Otator"
COLLEAGUE = "colleague"


def fast_model(model_id: str, base_url: str, concurrency: int) -> str:
    return "\x00".join(["models", "add", model_id, "--provider", "openai", "--base-url", base_url, "--model", model_id,
                        "--name", "Fast model", "--concurrency", str(concurrency)])


class Colleague(threading.Thread):
    """Another client writing notes on the visible records through the API at a steady rate."""

    def __init__(self, url: str, dataset: str, record_ids: list[str]):
        super().__init__(daemon=True)
        self.url, self.dataset, self.record_ids = url, dataset, record_ids
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.stop.wait(0.05):
            record = self.record_ids[self.sent % len(self.record_ids)]
            call(self.url, "/api/annotations", "POST", {"dataset_id": self.dataset, "record_id": record, "model_id": "",
                                                         "field": "note", "value": f"colleague note {self.sent}",
                                                         "author": COLLEAGUE})
            self.sent += 1


def run_of(url: str, dataset: str) -> dict:
    return call(url, f"/api/runs?dataset_id={dataset}")[0]


def hold_click(tab, selector: str) -> None:
    """A mouse press held 250 ms (the one fixed wait: it is the user's gesture), then released."""
    tab.locator(selector).hover()  # the pointer over the button's middle, once it is attached and still
    tab.mouse.down()
    tab.wait_for_timeout(250)
    tab.mouse.up()


# Tags the visible row nodes and counts, from now on, the mutations inside them, the row nodes taken out
# of the grid, and (while `holding`) every time the focus leaves the element that holds it.
WATCH = """() => {
  const spacer = document.querySelector('#grid-spacer');
  const rows = [...spacer.querySelectorAll('.row')];
  rows.forEach((r, i) => { r.__liveTag = i + 1; });
  const watch = window.__watch = { patches: 0, removedRows: 0, focusLost: 0, holding: false, tagged: rows.length };
  new MutationObserver((records) => {
    for (const m of records) {
      const row = (m.target.nodeType === 1 ? m.target : m.target.parentElement)?.closest?.('.row');
      if (row && row.__liveTag) watch.patches++;
      for (const n of m.removedNodes) if (n.__liveTag) watch.removedRows++;
    }
  }).observe(spacer, { subtree: true, childList: true, attributes: true, characterData: true });
  document.addEventListener('focusout', (e) => { if (watch.holding) watch.focusLost++; }, true);
  return rows.map((r) => r.dataset.seq);
}"""


def test_clicks_keys_and_typing_survive_a_live_stream(page, tmp_path, fake):  # noqa: F811 (fixtures)
    fake.config.latency_ms = 0
    fake.config.latency_jitter_ms = 10
    data = tmp_path / "stream.jsonl"
    write_jsonl(data, RECORDS, seed=15)
    url = workbench(tmp_path, fast_model("fast", fake.base_url, 128), f"import\x00{data}\x00--name\x00stream")
    dataset = call(url, "/api/datasets")[0]["id"]
    page.goto(url)
    page.wait_for_selector(f"#dataset-count:has-text('{RECORDS:,} records')")
    page.fill("#user-name", AUTHOR)  # typed during the stream below as well: the name goes with every mark
    page.press("#user-name", "Tab")
    page.check("input[data-model=fast]")
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.row .cell .acts button').length >= 40", timeout=30_000)
    page.wait_for_selector("#grid-head .model-col .status:has-text('running')", timeout=30_000)

    start = run_of(url, dataset)
    began = time.monotonic()
    page.wait_for_function("document.querySelectorAll('.row').length >= 12")
    seqs = page.evaluate(WATCH)
    columns = page.evaluate("[...document.querySelectorAll('#grid-head .model-col')].map((c) => c.dataset.column).join(',')")
    grid = call(url, f"/api/workbench?dataset_id={dataset}&limit=40&counts=false&models={columns}")
    record_of = {str(r["seq"]): r["candidate_id"] for r in grid["results"]}
    colleague = Colleague(url, dataset, [record_of[s] for s in seqs[10:20]])
    colleague.start()
    try:
        # Six mouse clicks held 250 ms, on ⭐ 👍 ❌ of the first visible rows.
        clicks = [(0, "golden"), (1, "good"), (2, "wrong"), (3, "golden"), (4, "wrong"), (5, "good")]
        for i, action in clicks:
            hold_click(page, f".row[data-seq='{seqs[i]}'] button[data-act={action}]")
            page.wait_for_selector(f".row[data-seq='{seqs[i]}'] button[data-act={action}].on", timeout=10_000)
        # The keyboard: focus a grid button, Space; Tab to the next, Enter.
        page.locator(f".row[data-seq='{seqs[6]}'] button[data-act=golden]").focus()
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.wait_for_selector(f".row[data-seq='{seqs[6]}'] button[data-act=good].on", timeout=10_000)
        focused = page.evaluate("document.activeElement.dataset.act + ':' + document.activeElement.closest('.row').dataset.seq")
        assert focused == f"good:{seqs[6]}"
        # Focus stays put for 3 s of streaming while the visible rows are patched (the colleague's notes).
        page.evaluate("window.__focusFrom = [performance.now(), window.__watch.patches]; window.__watch.holding = true")
        page.wait_for_function("performance.now() - window.__focusFrom[0] > 3000 && window.__watch.patches > window.__focusFrom[1] + 5",
                               timeout=30_000)
        assert page.evaluate("document.activeElement.dataset.act + ':' + document.activeElement.closest('.row').dataset.seq") == focused
        page.evaluate("window.__watch.holding = false")
        # The pointer has not moved since the last click: that button is still the hovered one.
        assert page.evaluate(f"!!document.querySelector(\".row[data-seq='{seqs[5]}'] button[data-act=good]:hover\")")
        page.wait_for_function(f"document.querySelector(\".row[data-seq='{seqs[12]}'] .rec-note:not([hidden])\")")
        # Typing: a note in the record panel.
        page.locator(f".row[data-seq='{seqs[7]}'] .rec").click()
        page.wait_for_selector("#detail .note-box")
        page.click("#detail .note-box")
        page.keyboard.type("typed while streaming")
        page.keyboard.press("Tab")  # the note is saved when the box is left
        page.wait_for_selector(f".row[data-seq='{seqs[7]}'] .rec-note[title='typed while streaming']")
        watch = page.evaluate("window.__watch")
        end = run_of(url, dataset)
    finally:
        colleague.stop.set()
        colleague.join(5)
    seconds = time.monotonic() - began
    rate = (end["done"] - start["done"]) / seconds
    print(f"\nstream: {rate:,.0f} results/s over {seconds:.1f} s ({end['done'] - start['done']:,} results); "
          f"colleague notes {colleague.sent}; row patches {watch['patches']}")
    assert end["status"] == "running" and end["done"] < end["total"], "the stream ended before the actions did"

    assert watch["removedRows"] == 0 and watch["focusLost"] == 0, watch
    assert watch["patches"] > 0
    still = page.evaluate("[...document.querySelectorAll('#grid-spacer .row')].filter((r) => r.__liveTag).length")
    assert still == watch["tagged"]  # the same row nodes, patched, never rebuilt

    log = [e for e in call(url, f"/api/annotations?dataset_id={dataset}") if e["author"] == AUTHOR]
    marks = {(e["record_id"], e["field"], json.dumps(e["value"])) for e in log}
    expected = {(record_of[seqs[i]], "golden" if a == "golden" else "judgement", json.dumps(True if a == "golden" else a))
                for i, a in clicks}
    expected |= {(record_of[seqs[6]], "golden", "true"), (record_of[seqs[6]], "judgement", '"good"'),
                 (record_of[seqs[7]], "note", '"typed while streaming"')}
    assert marks == expected, marks ^ expected
    assert len(log) == len(expected)  # every action once, none lost, none doubled


def test_three_columns_at_1440_px_show_whole_verdicts_and_marks_patch_in_place(page, tmp_path, fake):  # noqa: F811
    fake.config.latency_ms = 1
    models = [fast_model(m, fake.base_url, 8) for m in ("alpha", "beta", "gamma")]
    url = workbench(tmp_path, *models, f"import\x00{sample_path()}\x00--name\x00sample")
    dataset = call(url, "/api/datasets")[0]["id"]
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(url)
    page.wait_for_selector("#dataset-count:has-text('records')")
    for m in ("alpha", "beta", "gamma"):
        page.check(f"input[data-model={m}]")
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 3", timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 3 && "
                           "document.querySelectorAll('.row .cell .verdict').length >= 30")
    cut = page.evaluate("""[...document.querySelectorAll('.row .cell .verdict, .row .cell .grades')]
        .filter((s) => s.scrollWidth > s.clientWidth).map((s) => s.textContent)""")
    assert cut == []  # no "Strong Y…", no cut grades
    verdicts = set(page.eval_on_selector_all(".row .cell .verdict", "(s) => s.map((v) => v.textContent.replace(/^\\S+ /, ''))"))
    assert verdicts & {"Strong Yes", "Maybe", "Strong No", "Yes", "No"}
    button = page.locator(".row >> nth=0").locator("button[data-act=golden] >> nth=0")
    assert button.get_attribute("aria-pressed") == "false"
    assert button.get_attribute("aria-label").startswith("Golden: ")
    labels = page.eval_on_selector_all("#grid-head .col-label", "(s) => s.map((x) => x.textContent)")
    assert all(button.get_attribute("aria-label") != f"Golden: {x}" for x in labels[1:])
    assert button.get_attribute("aria-label") == f"Golden: {labels[0]}"

    # A preference, a tie and a note from another client show on the rows, patched into the same nodes.
    seq = page.evaluate("document.querySelectorAll('.row')[0].dataset.seq")
    grid = call(url, f"/api/workbench?dataset_id={dataset}&limit=5&counts=false&models="
                     + ",".join(page.eval_on_selector_all("#grid-head .model-col", "(c) => c.map((x) => x.dataset.column)")))
    first, second = grid["results"][0], grid["results"][1]
    columns = [m["id"] for m in grid["models"]]
    page.evaluate(f"document.querySelector(\".row[data-seq='{seq}']\").__tag = 1")

    def note(record: str, field: str, value) -> None:
        call(url, "/api/annotations", "POST", {"dataset_id": dataset, "record_id": record, "model_id": "",
                                               "field": field, "value": value, "author": COLLEAGUE})

    note(first["candidate_id"], "preference", columns[1])
    note(first["candidate_id"], "note", "check the <b>dates</b>")
    note(second["candidate_id"], "preference", "tie")
    row = f".row[data-seq='{first['seq']}']"
    page.wait_for_selector(f"{row} .cell[data-model='{columns[1]}'] .mark-preferred:not([hidden])")
    page.wait_for_selector(f"{row} .rec-note[aria-label='Note: check the <b>dates</b>']")
    page.wait_for_selector(f".row[data-seq='{second['seq']}'] .rec-pref:has-text('tie')")
    assert page.locator(f"{row} .mark-preferred:not([hidden])").count() == 1
    note(first["candidate_id"], "preference", columns[2])
    note(first["candidate_id"], "note", None)
    page.wait_for_selector(f"{row} .cell[data-model='{columns[2]}'] .mark-preferred:not([hidden])")
    page.wait_for_selector(f"{row} .rec-note[hidden]", state="attached")
    assert page.locator(f"{row} .mark-preferred:not([hidden])").count() == 1
    assert page.evaluate(f"document.querySelector(\"{row}\").__tag") == 1  # patched, not rebuilt

    # Fixing every column's answer to the same one removes the disagreement highlight, in place.
    rows = call(url, f"/api/workbench?dataset_id={dataset}&limit=40&counts=false&models={','.join(columns)}")["results"]
    contested = next(r for r in rows if r["disagree_fields"] and all(r["models"][c] and r["models"][c]["status"] == "ok"
                                                                      for c in columns))
    row = f".row[data-seq='{contested['seq']}']"
    page.wait_for_selector(f"{row}.disagree")
    assert page.locator(f"{row} .diff").count() > 0
    page.evaluate(f"document.querySelector(\"{row}\").__tag = 2")
    answer = {k: v for k, v in contested["models"][columns[0]].items() if k in ("recommendation", "trajectory", "pedigree", "reasoning")}
    for c in columns:
        call(url, "/api/annotations", "POST", {"dataset_id": dataset, "record_id": contested["candidate_id"],
                                               "run_id": contested["models"][c]["run_id"], "field": "correction",
                                               "value": answer, "author": COLLEAGUE})
    page.wait_for_selector(f"{row}:not(.disagree)")
    page.wait_for_function(f"!document.querySelector(\"{row} .diff\")")
    assert page.evaluate(f"document.querySelector(\"{row}\").__tag") == 2


# The grid module on its own, on a scratch container: what setColumns and update write to the DOM.
GRID_MUTATIONS = """async () => {
  const { Grid } = await import('/static/grid.js');
  const box = document.createElement('div');
  box.style.cssText = 'position:fixed;top:0;left:0;width:1200px;height:400px;overflow:auto';
  const spacer = document.createElement('div');
  const head = document.createElement('div');
  box.append(spacer);
  document.body.append(head, box);
  const task = { fields: ['recommendation', 'trajectory'], primary_verdict: 'recommendation',
                 verdict_fields: { recommendation: ['Yes', 'Maybe', 'No'], trajectory: ['Strong', 'Weak'] } };
  const columns = (status) => [{ id: 'a', label: 'Model A', status: 'completed' }, { id: 'b', label: 'Model B', status }];
  const cell = (verdict) => ({ status: 'ok', recommendation: verdict, trajectory: 'Strong', is_golden: false, judgement: null, is_fixed: false, run_id: 1 });
  const row = (seq, b, extra = {}) => ({ seq, record_id: `r${seq}`, title: `Record ${seq}`, subtitle: 'x',
    models: { a: cell('Yes'), b: b ? cell(b) : null }, disagree_fields: b && b !== 'Yes' ? ['recommendation'] : [],
    preference: null, note: null, ...extra });
  const grid = new Grid({ container: box, spacer, head, empty: null, onOpen() {}, onNeedMore() {}, onAct() {} });
  grid.setColumns(columns('running'), task);
  grid.append([row(1, null), row(2, 'No'), row(3, 'Yes')]);
  const observer = new MutationObserver(() => {});
  observer.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  const out = [];
  // MutationObserver callbacks are async: take the records directly after each step.
  const record = (name, action) => {
    action();
    const seen = new Set();
    for (const m of observer.takeRecords()) {
      const node = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      const r = node.closest('.row');
      const c = node.closest('.cell');
      seen.add(r ? `row${r.dataset.seq}${c ? ':' + c.dataset.model : ''}` : node.closest('.model-col') || node === head ? 'head' : 'other');
    }
    out.push([name, [...seen].sort()]);
  };
  record('same columns', () => grid.setColumns(columns('running'), task));
  record('same rows', () => grid.update([row(1, null), row(2, 'No'), row(3, 'Yes')]));
  record('a status change', () => grid.setColumns(columns('paused'), task));
  record('a result for row 1', () => grid.update([row(1, 'Yes')]));
  record('row 2 agrees now', () => grid.update([row(2, 'Yes')]));
  record('a note on row 3', () => grid.update([row(3, 'Yes', { note: 'hm' })]));
  observer.disconnect();
  return { out, diff: spacer.querySelectorAll('.row[data-seq="2"] .diff, .row[data-seq="2"].disagree').length };
}"""


def test_the_grid_writes_only_what_changed(page, tmp_path):  # noqa: F811 (fixtures)
    url = workbench(tmp_path)
    page.goto(url)
    result = page.evaluate(GRID_MUTATIONS)
    assert dict(result["out"]) == {
        "same columns": [], "same rows": [],
        "a status change": ["head", "row1:b"],              # the head and the one pending label
        "a result for row 1": ["row1:b"],                   # the pending cell became an answer, nothing else
        "row 2 agrees now": ["row2", "row2:a", "row2:b"],   # the row's flag and both highlights go
        "a note on row 3": ["row3"],                        # the record cell's note icon
    }, result
    assert result["diff"] == 0


SCROLLED = """async () => {
  const { Grid } = await import('/static/grid.js');
  const box = document.createElement('div');
  box.style.cssText = 'position:fixed;top:0;left:0;width:900px;height:400px;overflow:auto';
  const spacer = document.createElement('div');
  spacer.style.position = 'relative';
  box.append(spacer);
  document.body.append(box);
  const task = { fields: ['v'], primary_verdict: 'v', verdict_fields: { v: ['Yes', 'No'] } };
  const grid = new Grid({ container: box, spacer, head: document.createElement('div'), empty: null,
                          onOpen() {}, onNeedMore() {}, onAct() {} });
  grid.setColumns([{ id: 'a', label: 'A', status: 'completed' }], task);
  grid.append(Array.from({ length: 300 }, (_, i) => ({ seq: i + 1, record_id: `r${i + 1}`, title: `Record ${i + 1}`,
    subtitle: '', models: { a: { status: 'ok', v: i % 2 ? 'Yes' : 'No', run_id: 1 } }, disagree_fields: [] })));
  const check = () => {
    const nodes = [...spacer.children];
    const seqs = nodes.map((n) => Number(n.dataset.seq));
    return { inOrder: seqs.every((s, i) => !i || s > seqs[i - 1]), same: seqs.join() === grid.visibleSeqs().join(),
             placed: nodes.every((n) => n.style.top === `${(Number(n.dataset.seq) - 1) * grid.rowHeight}px`
                                         && n.querySelector('.title').textContent === `Record ${n.dataset.seq}`
                                         && n.querySelector('.verdict').textContent.endsWith(Number(n.dataset.seq) % 2 ? 'No' : 'Yes')) };
  };
  const out = [check()];
  for (const top of [1500, 1530, 9000, 200, 0]) { box.scrollTop = top; grid.render(); out.push(check()); }
  return out;
}"""


def test_scrolling_reuses_row_nodes_in_row_order(page, tmp_path):  # noqa: F811 (fixtures)
    page.goto(workbench(tmp_path))
    assert page.evaluate(SCROLLED) == [{"inOrder": True, "same": True, "placed": True}] * 6
