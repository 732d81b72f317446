// The results grid: one fixed-height row per record, only the visible rows are in the DOM.
import { el } from "./dom.js";

const BUFFER = 6;

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

export class Grid {
  constructor({ container, spacer, head, empty, onOpen, onNeedMore, onAct }) {
    Object.assign(this, { container, spacer, head, empty, onOpen, onNeedMore, onAct });
    this.rows = [];
    this.bySeq = new Map();
    this.models = [];
    this.task = null;
    this.focused = -1;
    this.rowHeight = parseInt(getComputedStyle(document.documentElement).getPropertyValue("--row-h"), 10) || 58;
    this.rendered = new Map();
    container.addEventListener("scroll", () => this.render());
    window.addEventListener("resize", () => this.render(true));
  }

  setColumns(models, task) {
    this.models = models;
    this.task = task;
    this.container.style.setProperty("--models", Math.max(models.length, 1));
    this.head.style.setProperty("--models", Math.max(models.length, 1));
    this.head.replaceChildren(
      el("div", {}, "Record"),
      // The status only while it is news (a finished column needs the room for its label).
      ...models.map((m) => el("div", { class: "model-col", title: `${columnLabel(m)} (${m.id}) · ${m.status}`, dataset: { column: m.id } },
        el("span", { class: "col-label" }, columnLabel(m)),
        m.status === "completed" ? null : el("span", { class: `status ${String(m.status).replace(" ", "-")}` }, m.status))),
    );
    this.render(true);
  }

  reset() {
    this.rows = [];
    this.bySeq.clear();
    this.focused = -1;
    this.container.scrollTop = 0;
    this.render(true);
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
      changed = true;
    }
    if (changed) this.render(true);
  }

  visibleSeqs() {
    const first = Math.max(0, Math.floor(this.container.scrollTop / this.rowHeight) - BUFFER);
    const count = Math.ceil(this.container.clientHeight / this.rowHeight) + BUFFER * 2;
    return this.rows.slice(first, first + count).map((r) => r.seq);
  }

  render(force = false) {
    const total = this.rows.length;
    this.spacer.style.height = `${total * this.rowHeight}px`;
    const first = Math.max(0, Math.floor(this.container.scrollTop / this.rowHeight) - BUFFER);
    const last = Math.min(total, first + Math.ceil(this.container.clientHeight / this.rowHeight) + BUFFER * 2);
    const key = `${first}:${last}`;
    if (!force && key === this.lastKey) return;
    this.lastKey = key;
    const nodes = [];
    for (let i = first; i < last; i++) nodes.push(this.renderRow(this.rows[i], i));
    this.spacer.replaceChildren(...nodes);
    if (last >= total - BUFFER * 2 && this.onNeedMore) this.onNeedMore();
  }

  renderRow(row, index) {
    const disagree = row.disagree_fields && row.disagree_fields.length > 0;
    const node = el("div", {
      class: `row${index === this.focused ? " focused" : ""}${disagree ? " disagree" : ""}`,
      style: `top:${index * this.rowHeight}px`,
      dataset: { seq: row.seq, index },
      onclick: () => { this.focus(index); this.onOpen(row); },
    },
    el("div", { class: "rec" },
      el("div", { class: "title", title: row.title }, row.title),
      el("div", { class: "sub", title: row.subtitle }, row.subtitle || row.record_id)),
    ...this.models.map((m) => this.renderCell(row, m)));
    return node;
  }

  renderCell(row, model) {
    const cell = row.models[model.id];
    const diffs = new Set(row.disagree_fields || []);
    if (!cell) {
      const label = model.status === "running" ? "(running…)" : model.status === "queued" ? "queued"
        : model.status === "paused" ? "paused" : "—";
      return el("div", { class: "cell" }, el("span", { class: "pending" }, label));
    }
    if (cell.status !== "ok" && !cell.is_fixed) {
      const error = cell.error || {};
      return el("div", { class: "cell" },
        el("span", { class: "err", title: error.message || "" }, `⚠ ${error.kind || "error"}`));
    }
    let verdicts = this.task ? Object.keys(this.task.verdict_fields) : [];
    let primary = this.task ? this.task.primary_verdict : null;
    if (primary && cell[primary] === undefined) {
      // A column of another task: its own short fields stand in for the grid task's verdicts.
      verdicts = answerFields(cell, null).filter((f) => typeof cell[f] !== "object" && String(cell[f]).length <= 40);
      primary = verdicts[0] || primary;
    }
    const value = primary ? cell[primary] : null;
    const kind = verdictClass(value, this.task && this.task.verdict_fields[primary]);
    const others = verdicts.filter((f) => f !== primary);
    const act = (action, label, title, on) => el("button", {
      type: "button", class: on ? "on" : "", title, dataset: { act: action, model: model.id },
      onclick: (e) => { e.stopPropagation(); this.onAct(row, model, action); },
    }, label);
    return el("div", { class: "cell", dataset: { model: model.id } },
      el("span", { class: "head" },
        el("span", { class: `verdict v-${kind}${diffs.has(primary) ? " diff" : ""}`, title: `${primary}: ${value ?? "?"}` }, `${ICON[kind]} ${value ?? "?"}`,
          cell.is_fixed ? el("span", { class: "marks", title: "fixed by a person" }, " ✏️") : null),
        el("span", { class: "acts" },
          act("golden", "⭐", "Golden: keep as an example (g)", cell.is_golden),
          act("good", "👍", "Good", cell.judgement === "good"),
          act("wrong", "❌", "Wrong (w)", cell.judgement === "wrong"),
          act("edit", "✏️", "Fix the answer (e)", cell.is_fixed))),
      el("span", { class: "grades" }, ...others.flatMap((f, i) => [
        i ? " · " : "",
        el("span", { class: diffs.has(f) ? "diff" : "", title: f }, `${f.slice(0, 4)}: ${cell[f] ?? "?"}`),
      ])));
  }

  focus(index) {
    if (!this.rows.length) return;
    this.focused = Math.max(0, Math.min(index, this.rows.length - 1));
    const top = this.focused * this.rowHeight;
    if (top < this.container.scrollTop) this.container.scrollTop = top;
    else if (top + this.rowHeight > this.container.scrollTop + this.container.clientHeight) {
      this.container.scrollTop = top + this.rowHeight - this.container.clientHeight;
    }
    this.render(true);
  }

  move(delta) { this.focus(this.focused < 0 ? 0 : this.focused + delta); }
  current() { return this.rows[this.focused]; }
}
