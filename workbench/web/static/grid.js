// The results grid: one fixed-height row per record, only the visible rows are in the DOM.
// Rows are patched in place: one node per visible record (keyed by seq), and an update changes only
// the attributes and texts that differ, so focus, hover and a held mouse press survive a live stream.
import { el } from "./dom.js";

const BUFFER = 6;
const POOL = 40;  // row nodes kept for reuse when rows scroll out

// The seed's names for a row's record fields in GET /api/workbench; inside the page a row's
// record is a record (record_id, title, subtitle). Rows enter the page through the grid, mapped here once.
const RECORD_KEYS = { candidate_id: "record_id", candidate_name: "title", candidate_title: "subtitle" };

export function recordRow(row) {
  if ("record_id" in row) return row;
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [RECORD_KEYS[key] || key, value]));
}

// A verdict's colour from its place in the task's own order (the schema's enum lists the best first):
// the first third good, the middle warn, the last third bad; a value the task doesn't list is warn.
export function verdictClass(value, options) {
  const i = (options || []).indexOf(value);
  if (i < 0 || !options.length) return "warn";
  const position = i / Math.max(options.length - 1, 1);
  return position < 0.34 ? "good" : position < 0.67 ? "warn" : "bad";
}

const ICON = { good: "✅", warn: "⚠️", bad: "❌" };

// What the grid adds to a cell beside the answer's own fields.
const CELL_KEYS = new Set(["status", "error", "original", "latency_ms", "run_id", "is_golden", "is_fixed", "judgement"]);

// The answer's fields in a cell: the task's first, then any other (a column of another task has its own).
export function answerFields(cell, task) {
  const own = Object.keys(cell || {}).filter((k) => !CELL_KEYS.has(k));
  const known = task ? task.fields.filter((f) => own.includes(f)) : [];
  return [...known, ...own.filter((f) => !known.includes(f))];
}

// A column's readable name: its label ("Gemma 3 4B · sentiment v2 · 5-shot"), else its model's name.
export const columnLabel = (column) => column.label || column.name || column.id;

// The four act buttons of an answer: what they do, their face, their name and key.
const ACTS = [
  { act: "golden", face: "⭐", name: "Golden", hint: "keep as an example (g)", on: (c) => Boolean(c.is_golden) },
  { act: "good", face: "👍", name: "Good", hint: "the answer is right", on: (c) => c.judgement === "good" },
  { act: "wrong", face: "❌", name: "Wrong", hint: "the answer is wrong (w)", on: (c) => c.judgement === "wrong" },
  { act: "edit", face: "✏️", name: "Fix the answer", hint: "edit it (e)", on: (c) => Boolean(c.is_fixed) },
];

const RECORD_PREFERENCE = { tie: ["🤝 tie", "Preference: a tie"], all_bad: ["👎 all bad", "Preference: all answers are bad"] };
const NOTE_NAME_MAX = 200;

// Patching helpers: each writes only when the value differs, so an unchanged row makes no mutation.
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setAttr(node, name, value) {
  if (value === null || value === undefined || value === false) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else if (node.getAttribute(name) !== String(value)) node.setAttribute(name, String(value));
}

function setClass(node, className) {
  if (node.className !== className) node.className = className;
}

function setHidden(node, hidden) {
  if (node.hidden !== hidden) node.hidden = hidden;
}

// What a pending cell says, from its column's status.
function pendingLabel(status) {
  return status === "running" ? "(running…)" : status === "queued" ? "queued" : status === "paused" ? "paused" : "—";
}

export class Grid {
  constructor({ container, spacer, head, empty, onOpen, onNeedMore, onAct }) {
    Object.assign(this, { container, spacer, head, empty, onOpen, onNeedMore, onAct });
    this.rows = [];
    this.bySeq = new Map();
    this.models = [];
    this.task = null;
    this.focused = -1;
    this.rowHeight = parseInt(getComputedStyle(document.documentElement).getPropertyValue("--row-h"), 10) || 58;
    this.nodes = new Map();  // seq → its row node, for the rows on screen
    this.pool = [];
    container.addEventListener("scroll", () => this.render());
    window.addEventListener("resize", () => this.render(true));
    // One listener for every row: a handler reads the row as it is now, never one captured at build time.
    spacer.addEventListener("click", (e) => this.onClick(e));
  }

  onClick(event) {
    const rowNode = event.target.closest(".row");
    if (!rowNode) return;
    const index = this.bySeq.get(Number(rowNode.dataset.seq));
    const row = index === undefined ? null : this.rows[index];
    if (!row) return;
    const button = event.target.closest("button[data-act]");
    if (button) {
      const model = this.models.find((m) => m.id === button.dataset.model);
      if (model) this.onAct(row, model, button.dataset.act);
      return;
    }
    this.focus(index);
    this.onOpen(row);
  }

  setColumns(models, task) {
    this.models = models;
    this.task = task;
    const count = String(Math.max(models.length, 1));
    for (const node of [this.container, this.head]) {
      if (node.style.getPropertyValue("--models") !== count) node.style.setProperty("--models", count);
    }
    this.patchHead();
    this.render(true);
  }

  // The head: one node per column, keyed by column id; only a changed label or status is written.
  patchHead() {
    const ids = this.models.map((m) => m.id).join("\n");
    if (this.head.dataset.columns !== ids || !this.head.firstChild) {
      this.head.dataset.columns = ids;
      this.head.replaceChildren(el("div", {}, "Record"), ...this.models.map((m) => el("div", { class: "model-col", dataset: { column: m.id } },
        el("span", { class: "col-label" }), el("span", { class: "status" }), el("span", { class: "col-legend" }))));
    }
    const legend = this.task ? Object.keys(this.task.verdict_fields).join(" · ") : "";
    this.models.forEach((m, i) => {
      const node = this.head.children[i + 1];
      const [label, status, fields] = node.children;
      setAttr(node, "title", `${columnLabel(m)} (${m.id}) · ${m.status}`);
      setText(label, columnLabel(m));
      // The status only while it is news (a finished column needs the room for its label).
      setHidden(status, m.status === "completed");
      setClass(status, `status ${String(m.status).replace(" ", "-")}`);
      setText(status, m.status === "completed" ? "" : String(m.status));
      setText(fields, legend);
      setAttr(fields, "title", legend ? `each cell: ${legend}` : null);
    });
  }

  reset() {
    this.rows = [];
    this.bySeq.clear();
    this.focused = -1;
    this.container.scrollTop = 0;
    // The rows usually come right back (a reload): render once they are in, so their nodes are kept.
    queueMicrotask(() => this.render());
  }

  append(rows) {
    for (const row of rows.map(recordRow)) {
      if (this.bySeq.has(row.seq)) continue;
      this.bySeq.set(row.seq, this.rows.length);
      this.rows.push(row);
    }
    this.render(true);
  }

  update(rows) {
    let changed = false;
    for (const row of rows.map(recordRow)) {
      const index = this.bySeq.get(row.seq);
      if (index === undefined) continue;
      this.rows[index] = row;
      changed = changed || this.nodes.has(row.seq);
    }
    if (changed) this.render(true);
  }

  range() {
    const first = Math.max(0, Math.floor(this.container.scrollTop / this.rowHeight) - BUFFER);
    const count = Math.ceil(this.container.clientHeight / this.rowHeight) + BUFFER * 2;
    return [first, Math.min(this.rows.length, first + count)];
  }

  visibleSeqs() {
    const [first, last] = this.range();
    return this.rows.slice(first, last).map((r) => r.seq);
  }

  render() {
    const total = this.rows.length;
    const height = `${total * this.rowHeight}px`;
    if (this.spacer.style.height !== height) this.spacer.style.height = height;
    const [first, last] = this.range();
    const wanted = new Set();
    for (let i = first; i < last; i++) wanted.add(this.rows[i].seq);
    for (const [seq, node] of this.nodes) {
      if (wanted.has(seq)) continue;
      node.remove();
      this.nodes.delete(seq);
      if (this.pool.length < POOL) this.pool.push(node);
    }
    // New nodes go in at their place in row order (Tab follows it); nodes already in are never moved,
    // since moving a node would take the focus from a button in it.
    let next = null;
    for (let i = last - 1; i >= first; i--) {
      const row = this.rows[i];
      let node = this.nodes.get(row.seq);
      if (!node) {
        node = this.pool.pop() || this.buildRow();
        this.nodes.set(row.seq, node);
        this.spacer.insertBefore(node, next && next.parentNode === this.spacer ? next : null);
      }
      this.patchRow(node, row, i);
      next = node;
    }
    if (last >= total - BUFFER * 2 && this.onNeedMore) this.onNeedMore();
  }

  buildRow() {
    const title = el("span", { class: "title" });
    const flags = el("span", { class: "rec-flags" });
    const preference = el("span", { class: "rec-pref", hidden: true });
    const note = el("span", { class: "rec-note", role: "img", hidden: true }, "📝");
    const judge = el("span", { class: "rec-judge", hidden: true });
    const why = el("span", { class: "rec-value", role: "img", hidden: true }, "ⓘ");
    flags.append(preference, judge, note, why);
    const sub = el("div", { class: "sub" });
    const rec = el("div", { class: "rec" }, el("div", { class: "title-line" }, title, flags), sub);
    const node = el("div", { class: "row" }, rec);
    node.parts = { title, sub, preference, note, judge, why, cells: new Map(), columns: "" };
    return node;
  }

  patchRow(node, row, index) {
    const parts = node.parts;
    const disagree = row.disagree_fields && row.disagree_fields.length > 0;
    setClass(node, `row${index === this.focused ? " focused" : ""}${disagree ? " disagree" : ""}`);
    const top = `${index * this.rowHeight}px`;
    if (node.style.top !== top) node.style.top = top;
    setAttr(node, "data-seq", row.seq);
    setAttr(node, "data-index", index);
    setText(parts.title, row.title ?? "");
    setAttr(parts.title, "title", row.title ?? "");
    const sub = row.subtitle || row.record_id || "";
    setText(parts.sub, String(sub));
    setAttr(parts.sub, "title", row.subtitle || null);
    const special = RECORD_PREFERENCE[row.preference];
    setHidden(parts.preference, !special);
    setText(parts.preference, special ? special[0] : "");
    setAttr(parts.preference, "title", special ? special[1] : null);
    const note = typeof row.note === "string" && row.note.trim() ? row.note : "";
    setHidden(parts.note, !note);
    setAttr(parts.note, "title", note || null);
    setAttr(parts.note, "aria-label", note ? `Note: ${note.length > NOTE_NAME_MAX ? `${note.slice(0, NOTE_NAME_MAX)}…` : note}` : null);
    const judge = this.judgeView(row);
    setHidden(parts.judge, !judge);
    setText(parts.judge, judge ? judge.text : "");
    setClass(parts.judge, judge && judge.inconsistent ? "rec-judge inconsistent" : "rec-judge");
    setAttr(parts.judge, "title", judge ? judge.title : null);
    setAttr(parts.judge, "aria-label", judge ? judge.title : null);
    const reasons = this.byValue() && Array.isArray(row.value_reasons) ? row.value_reasons.map(String).join("; ") : "";
    setHidden(parts.why, !reasons);
    setAttr(parts.why, "title", reasons ? `Why here: ${reasons}` : null);
    setAttr(parts.why, "aria-label", reasons ? `Why here: ${reasons}` : null);
    this.placeCells(node);
    for (const model of this.models) this.patchCell(parts.cells.get(model.id), row, model);
  }

  // The grid is in review-by-expected-value order (the page's sort picker says so).
  byValue() {
    const sort = document.getElementById("sort");
    return Boolean(sort && sort.value === "value");
  }

  // The judge's suggestion (a model's, not a person's: ⚖, never 👑): the first judged pair's word,
  // "inconsistent" when any pair flipped with the order; every pair and its reason on hover.
  judgeView(row) {
    const said = (Array.isArray(row.judge) ? row.judge : []).filter((s) => s && s.preferred !== null && s.preferred !== undefined);
    if (!said.length) return null;
    const name = (id) => { const column = this.models.find((m) => m.id === id); return column ? columnLabel(column) : String(id); };
    const words = (s) => s.consistent === false ? "judge inconsistent (flipped with the order)"
      : s.preferred === "tie" ? "judge suggests a tie" : `judge suggests ${name(s.preferred)}`;
    const inconsistent = said.some((s) => s.consistent === false);
    const first = said[0];
    const text = inconsistent ? "⚖ inconsistent" : first.preferred === "tie" ? "⚖ tie" : `⚖ ${name(first.preferred)}`;
    const title = said.map((s) => `${words(s)}: ${(s.columns || []).map(name).join(" vs ")} · ${s.judge_model || "judge"}${s.reason ? ` — ${s.reason}` : ""}`).join("\n");
    return { text, title, inconsistent };
  }

  // A row's cells follow the columns: kept by column id, rebuilt only when the columns change.
  placeCells(node) {
    const parts = node.parts;
    const ids = this.models.map((m) => m.id).join("\n");
    if (parts.columns === ids) return;
    parts.columns = ids;
    const cells = new Map();
    for (const model of this.models) cells.set(model.id, parts.cells.get(model.id) || el("div", { class: "cell", dataset: { model: model.id } }));
    parts.cells = cells;
    node.replaceChildren(node.firstChild, ...cells.values());
  }

  // What a cell shows, as plain data: a pending label, an error, or an answer.
  cellView(row, model) {
    const cell = row.models && row.models[model.id];
    if (!cell) return { kind: "pending", label: pendingLabel(model.status) };
    if (cell.status !== "ok" && !cell.is_fixed) {
      const error = cell.error || {};
      return { kind: "error", text: `⚠ ${error.kind || "error"}`, title: error.message || "" };
    }
    const diffs = new Set(row.disagree_fields || []);
    let verdicts = this.task ? Object.keys(this.task.verdict_fields) : [];
    let primary = this.task ? this.task.primary_verdict : null;
    if (primary && cell[primary] === undefined) {
      // A column of another task: its own short fields stand in for the grid task's verdicts.
      verdicts = answerFields(cell, null).filter((f) => typeof cell[f] !== "object" && String(cell[f]).length <= 40);
      primary = verdicts[0] || primary;
    }
    const value = primary ? cell[primary] : null;
    const tone = verdictClass(value, this.task && this.task.verdict_fields[primary]);
    return {
      kind: "answer",
      verdict: { text: `${ICON[tone]} ${value ?? "?"}`, title: `${primary}: ${value ?? "?"}`, className: `verdict v-${tone}${diffs.has(primary) ? " diff" : ""}` },
      fixed: Boolean(cell.is_fixed),
      preferred: row.preference === model.id,
      acts: ACTS.map((a) => a.on(cell)),
      grades: verdicts.filter((f) => f !== primary).map((f) => ({ field: f, value: String(cell[f] ?? "?"), diff: diffs.has(f) })),
    };
  }

  patchCell(node, row, model) {
    const view = this.cellView(row, model);
    if (node.dataset.kind !== view.kind) this.buildCell(node, view.kind, model);
    const parts = node.parts;
    if (view.kind === "pending") {
      setText(parts.label, view.label);
      return;
    }
    if (view.kind === "error") {
      setText(parts.error, view.text);
      setAttr(parts.error, "title", view.title);
      return;
    }
    setText(parts.verdict, view.verdict.text);
    setAttr(parts.verdict, "title", view.verdict.title);
    setClass(parts.verdict, view.verdict.className);
    setHidden(parts.fixed, !view.fixed);
    setHidden(parts.preferred, !view.preferred);
    const label = columnLabel(model);
    ACTS.forEach((a, i) => {
      const button = parts.buttons[i];
      const on = view.acts[i];
      setClass(button, on ? "on" : "");
      setAttr(button, "aria-pressed", on ? "true" : "false");
      setAttr(button, "aria-label", `${a.name}: ${label}`);
      // A button held back for the signed-in role (accounts.js) keeps the reason as its title.
      if (button.getAttribute("aria-disabled") !== "true") setAttr(button, "title", `${a.name}: ${a.hint}`);
    });
    this.patchGrades(parts.grades, view.grades);
  }

  // The secondary grades: the values (legible), the field named in the head's legend, on hover and
  // to a screen reader.
  patchGrades(box, grades) {
    const fields = grades.map((g) => g.field).join("\n");
    if (box.dataset.fields !== fields) {
      box.dataset.fields = fields;
      box.replaceChildren(...grades.flatMap((g, i) => [i ? " · " : "",
        el("span", { class: "grade" }, el("span", { class: "grid-sr" }, `${g.field}: `), el("span", { class: "grade-value" }))]));
    }
    const spans = box.querySelectorAll(".grade");
    grades.forEach((g, i) => {
      const span = spans[i];
      setClass(span, g.diff ? "grade diff" : "grade");
      setAttr(span, "title", `${g.field}: ${g.value}`);
      setText(span.lastChild, g.value);
    });
  }

  buildCell(node, kind, model) {
    node.dataset.kind = kind;
    if (kind === "pending") {
      const label = el("span", { class: "pending" });
      node.parts = { label };
      node.replaceChildren(label);
    } else if (kind === "error") {
      const error = el("span", { class: "err" });
      node.parts = { error };
      node.replaceChildren(error);
    } else {
      const verdict = el("span", { class: "verdict" });
      const fixed = el("span", { class: "mark-fixed", role: "img", "aria-label": "fixed by a person", title: "fixed by a person", hidden: true }, "✏️");
      const preferred = el("span", { class: "mark-preferred", role: "img", "aria-label": "preferred", title: "preferred answer for this record", hidden: true }, "👑");
      const buttons = ACTS.map((a) => el("button", { type: "button", dataset: { act: a.act, model: model.id, needs: "annotator" } }, a.face));
      const grades = el("span", { class: "grades" });
      node.parts = { verdict, fixed, preferred, buttons, grades };
      node.replaceChildren(el("span", { class: "line" }, verdict, fixed, preferred), grades, el("span", { class: "acts" }, ...buttons));
    }
  }

  focus(index) {
    if (!this.rows.length) return;
    this.focused = Math.max(0, Math.min(index, this.rows.length - 1));
    const top = this.focused * this.rowHeight;
    if (top < this.container.scrollTop) this.container.scrollTop = top;
    else if (top + this.rowHeight > this.container.scrollTop + this.container.clientHeight) {
      this.container.scrollTop = top + this.rowHeight - this.container.clientHeight;
    }
    this.render();
  }

  move(delta) { this.focus(this.focused < 0 ? 0 : this.focused + delta); }
  current() { return this.rows[this.focused]; }
}
