// The right sidebar (stats, jobs, comparison) and the record detail drawer.
import { api } from "./api.js";
import { $, el, formatDuration, toast } from "./dom.js";
import { answerFields, columnLabel } from "./grid.js";

export function renderStats(data) {
  const counts = data.counts || {};
  const completed = data.models.map((m) => `${m.results_count}`).join(" / ") || "0";
  const items = [["Total", data.dataset.count], ["Completed", completed], ["Golden ⭐", counts.golden ?? 0],
    ["Fixed ✏️", counts.fixed ?? 0], ["Disagreements", counts.differences ?? 0], ["Needs review", counts.needs_review ?? 0]];
  $("#stats").replaceChildren(...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
}

// labelOf(runId): the run's column label (GET /api/columns), or null: the model's name is shown then.
export function renderJobs(runs, progress, onChange, labelOf = () => null) {
  const box = $("#jobs");
  if (!runs.length) { box.replaceChildren(el("p", { class: "muted" }, "No runs yet.")); return; }
  const order = { running: 0, queued: 1, paused: 2, failed: 3, completed: 4, cancelled: 5 };
  const sorted = [...runs].sort((a, b) => (order[a.status] - order[b.status]) || b.id - a.id).slice(0, 12);
  box.replaceChildren(...sorted.map((run) => {
    const live = progress.get(run.id) || {};
    const done = live.done ?? run.done;
    const total = live.total ?? run.total;
    const errors = live.errors ?? run.errors;
    const pct = total ? Math.floor((done / total) * 1000) / 10 : 0;
    const act = (action) => async () => {
      try { await api(`/api/runs/${encodeURIComponent(run.id)}/${encodeURIComponent(action)}`, { method: "POST" }); onChange(); }
      catch (error) { toast(error.message, "error"); }
    };
    const controls = [];
    if (run.status === "running" || run.status === "queued") controls.push(el("button", { type: "button", dataset: { needs: "admin" }, onclick: act("pause") }, "Pause"));
    if (run.status === "paused") controls.push(el("button", { type: "button", dataset: { needs: "admin" }, onclick: act("resume") }, "Resume"));
    if (!["completed", "cancelled", "failed"].includes(run.status)) controls.push(el("button", { type: "button", dataset: { needs: "admin" }, onclick: act("cancel") }, "Cancel"));
    if (errors > 0 && ["completed", "paused", "failed"].includes(run.status)) controls.push(el("button", { type: "button", dataset: { needs: "admin" }, onclick: act("retry-errors") }, "Retry errors"));
    const running = run.status === "running";
    const label = labelOf(run.id) || run.model.name;
    return el("div", { class: "job", dataset: { run: run.id } },
      el("div", { class: "line" }, el("strong", { class: "job-label", title: label }, label),
        el("span", { class: `status ${run.status}` }, run.status)),
      el("div", { class: "bar" }, el("div", { style: `width:${pct}%` })),
      el("div", { class: "figures" }, `${done}/${total} (${pct}%) · ${errors} errors`),
      running ? el("div", { class: "figures" },
        `${(live.records_per_s ?? 0).toFixed(1)} rec/s · ${Math.round(live.tokens_per_s ?? 0)} tok/s · ETA ${formatDuration(live.eta_seconds)}`) : null,
      run.status_reason ? el("div", { class: "reason" }, run.status_reason) : null,
      controls.length ? el("div", { class: "controls" }, ...controls) : null);
  }));
}

// labels: column id → its label, for the pairs (the summary names columns by id). Field names and pair
// labels are shown in full and wrap (the panel is narrow): one small table per pair, fields as rows.
export function renderCompare(summary, labels = {}) {
  const panel = $("#compare-panel");
  const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
  const fields = Object.keys(summary.field_agreement);
  const colHead = (text) => el("th", { scope: "col" }, text);
  const fieldRow = (field, value) => el("tr", {}, el("th", { scope: "row", class: "field-name" }, field), el("td", {}, pct(value)));
  panel.replaceChildren(
    el("h2", {}, "Comparison"),
    el("p", { class: "muted" }, `${summary.all_answered} of ${summary.records} records answered by all · models disagree on ${pct(summary.disagreement_share)}`),
    el("table", { class: "compare-table" },
      el("caption", {}, "All columns agree"),
      el("thead", {}, el("tr", {}, colHead("field"), colHead("all agree"))),
      el("tbody", {}, ...fields.map((f) => fieldRow(f, summary.field_agreement[f])))),
    ...summary.pairs.map((p) => {
      const pair = p.models.map((id) => labels[id] || id).join(" vs ");
      return el("table", { class: "compare-table pair" },
        el("caption", {}, pair),
        el("thead", {}, el("tr", {}, colHead("field"), colHead("agree"))),
        el("tbody", {}, ...fields.map((f) => fieldRow(f, p.agreement[f]))));
    }));
  panel.hidden = false;
}

// A dataset switch: the previous dataset's figures must not stay on screen.
export function clearCompare() {
  const panel = $("#compare-panel");
  panel.replaceChildren();
  panel.hidden = true;
}

// The record panel: per column its answer, marks and (loaded when the panel opens) the trace of the
// call: the prompt sent, the raw answer, latency, tokens, cost, attempts.
export async function openDetail(datasetId, row, columns, task, curation) {
  const title = $("#detail-title");
  title.textContent = `${row.title}${row.subtitle ? ` — ${row.subtitle}` : ""}`;
  const body = $("#detail-body");
  const draft = unsavedNote(row.record_id);
  body.replaceChildren(el("p", { class: "muted" }, "loading…"));
  showDetailPanel();
  $("#detail").dataset.record = row.record_id;
  const parts = [];
  const traces = [];
  for (const column of columns) {
    const cell = row.models[column.id];
    parts.push(el("h3", { title: column.id }, columnLabel(column)));
    if (!cell) { parts.push(el("p", { class: "muted" }, "no answer yet")); continue; }
    const marks = [cell.is_golden && "⭐ golden", cell.judgement === "good" && "👍 good", cell.judgement === "wrong" && "❌ wrong",
      cell.is_fixed && "✏️ fixed"].filter(Boolean);
    if (marks.length) parts.push(el("div", { class: "muted" }, marks.join(" · ")));
    if (cell.error && !cell.is_fixed) parts.push(el("p", { class: "err" }, `${cell.error.kind}: ${cell.error.message || ""}`));
    for (const field of answerFields(cell, task)) {
      parts.push(el("div", { class: field === "reasoning" ? "reasoning" : "" }, el("strong", {}, `${field}: `), String(cell[field])));
    }
    if (cell.is_fixed && cell.original) parts.push(el("div", { class: "original muted" }, `original: ${JSON.stringify(cell.original)}`));
    const runId = cell.run_id ?? column.run_id;
    if (runId !== null && runId !== undefined) {
      const slot = el("div", { class: "trace-slot", dataset: { run: runId } });
      parts.push(slot);
      traces.push([slot, runId]);
    }
  }
  if (curation) parts.push(...preferenceControls(row, columns, curation, draft));
  try {
    const [record, log] = await Promise.all([
      api(`/api/datasets/${encodeURIComponent(datasetId)}/records/${encodeURIComponent(row.record_id)}`),
      api(`/api/annotations?dataset_id=${encodeURIComponent(datasetId)}&record_id=${encodeURIComponent(row.record_id)}`),
    ]);
    if (log.length) {
      parts.push(el("h3", {}, "History"), el("ul", { class: "history" }, ...log.slice(0, 20).map((e) => el("li", {},
        `${e.created_at.slice(0, 19).replace("T", " ")} ${e.author}: ${historyTarget(e)}${e.field} ${JSON.stringify(e.previous)} → ${JSON.stringify(e.value)}${e.undoes ? " (undo)" : ""}`))));
    }
    parts.push(el("h3", {}, "Record"), el("pre", {}, JSON.stringify(record.data, null, 2)));
  } catch (error) { parts.push(el("p", { class: "err" }, error.message)); }
  body.replaceChildren(...parts);
  fillTraces(traces, row.record_id);
}

// A dialog gives focus back to what opened it when it closes, unless the user has moved it on meanwhile.
// Call before showModal(); returns nothing, the listener is set once per dialog.
export function returnFocusOnClose(dialog) {
  if (!dialog.open) dialog.opener = document.activeElement;
  if (dialog.dataset.returnsFocus) return;
  dialog.dataset.returnsFocus = "1";
  dialog.addEventListener("close", () => {
    const focus = document.activeElement;
    const opener = dialog.opener;
    if (opener && opener.isConnected && (!focus || focus === document.body || dialog.contains(focus))) opener.focus();
    dialog.opener = null;
  });
}

// The panel is labelled by its title; focus moves into it on open and back to what opened it on close
// (whoever hides it: the ✕, Escape, review mode), unless the user has already moved focus elsewhere.
let opener = null;
function showDetailPanel() {
  const panel = $("#detail");
  const title = $("#detail-title");
  if (!panel.dataset.watched) {
    panel.dataset.watched = "1";
    panel.setAttribute("aria-labelledby", "detail-title");
    title.tabIndex = -1;
    new MutationObserver(() => {
      if (!panel.hidden) return;
      const focus = document.activeElement;
      if ((!focus || focus === document.body || panel.contains(focus)) && opener && opener.isConnected) opener.focus();
      opener = null;
    }).observe(panel, { attributes: true, attributeFilter: ["hidden"] });
  }
  const focus = document.activeElement;
  if (panel.hidden || !opener) opener = focus && !panel.contains(focus) && focus !== document.body ? focus : null;
  panel.hidden = false;
  if (!panel.contains(document.activeElement)) title.focus({ preventScroll: true });
}

// What the note box of this record's open panel holds and the server doesn't have yet, or null.
function unsavedNote(recordId) {
  const panel = $("#detail");
  const box = panel.querySelector(".note-box");
  if (panel.hidden || panel.dataset.record !== String(recordId) || !box || box.value === box.dataset.saved) return null;
  return box.value;
}

// "Which column is better?": toggles that keep the panel open (a note often follows); a second press
// of the chosen one clears it. The choice shows at once; the server has it a moment later.
function preferenceControls(row, columns, curation, draft = null) {
  const buttons = [];
  const show = () => {
    for (const button of buttons) {
      const on = row.preference === button.dataset.prefer;
      button.classList.toggle("on", on);
      button.setAttribute("aria-pressed", String(on));
    }
  };
  const prefer = (value, label, name = null) => {
    const button = el("button", { type: "button", dataset: { prefer: value, needs: "annotator" }, "aria-label": name,
      onclick: () => { curation.setRecord(row, "preference", row.preference === value ? null : value); show(); } }, label);
    buttons.push(button);
    return button;
  };
  const note = el("textarea", { class: "note-box", "aria-label": "Note on this record", dataset: { needs: "annotator" }, placeholder: "Note (saved when you leave the box)" });
  note.value = draft ?? (row.note || "");
  note.dataset.saved = row.note || "";
  note.addEventListener("change", () => {
    note.dataset.saved = note.value;
    curation.setRecord(row, "note", note.value.trim() || null);
  });
  // The panel re-rendered for this record while a note was being typed: what was typed is kept, and saved
  // (the old box went away before it could say "changed").
  if (draft !== null && (draft.trim() || null) !== (row.note || null)) {
    note.dataset.saved = draft;
    curation.setRecord(row, "note", draft.trim() || null);
  }
  const heading = el("h3", { id: "prefer-heading" }, "Which column is better?");
  const group = el("div", { class: "prefs", role: "group", "aria-labelledby": "prefer-heading" },
    ...columns.map((c) => prefer(c.id, columnLabel(c), `${columnLabel(c)} is better`)),
    prefer("tie", "tie"), prefer("all_bad", "all bad"));
  show();
  return [heading, group, note];
}

function historyTarget(event) {
  if (event.run_id !== null && event.run_id !== undefined) return `${event.model_id || ""} run ${event.run_id} `;
  return event.model_id ? `${event.model_id} ` : "";
}

// trace.js is loaded only when a record panel opens; a page without it still shows the answers.
async function fillTraces(traces, recordId) {
  if (!traces.length) return;
  let traceView;
  try {
    ({ traceView } = await import("./trace.js"));
  } catch {
    return;
  }
  await Promise.all(traces.map(async ([slot, runId]) => {
    try {
      const view = await traceView(runId, recordId);
      if (view) slot.replaceChildren(view);
    } catch (error) {
      slot.replaceChildren(el("p", { class: "muted" }, `trace: ${error.message}`));
    }
  }));
}
