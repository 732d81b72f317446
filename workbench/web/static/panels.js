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
    if (run.status === "running" || run.status === "queued") controls.push(el("button", { type: "button", onclick: act("pause") }, "Pause"));
    if (run.status === "paused") controls.push(el("button", { type: "button", onclick: act("resume") }, "Resume"));
    if (!["completed", "cancelled", "failed"].includes(run.status)) controls.push(el("button", { type: "button", onclick: act("cancel") }, "Cancel"));
    if (errors > 0 && ["completed", "paused", "failed"].includes(run.status)) controls.push(el("button", { type: "button", onclick: act("retry-errors") }, "Retry errors"));
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

// labels: column id → its label, for the pairs (the summary names columns by id).
export function renderCompare(summary, labels = {}) {
  const panel = $("#compare-panel");
  const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
  const fields = Object.keys(summary.field_agreement);
  panel.replaceChildren(
    el("h2", {}, "Comparison"),
    el("p", { class: "muted" }, `${summary.all_answered} of ${summary.records} records answered by all · models disagree on ${pct(summary.disagreement_share)}`),
    el("table", {},
      el("tr", {}, el("th", {}, "field"), el("th", {}, "all agree")),
      ...fields.map((f) => el("tr", {}, el("td", {}, f), el("td", {}, pct(summary.field_agreement[f]))))),
    el("table", {},
      el("tr", {}, el("th", {}, "pair"), ...fields.map((f) => el("th", {}, f.slice(0, 5)))),
      ...summary.pairs.map((p) => el("tr", {}, el("td", {}, p.models.map((id) => labels[id] || id).join(" vs ")), ...fields.map((f) => el("td", {}, pct(p.agreement[f])))))));
  panel.hidden = false;
}

// The record panel: per column its answer, marks and (loaded when the panel opens) the trace of the
// call: the prompt sent, the raw answer, latency, tokens, cost, attempts.
export async function openDetail(datasetId, row, columns, task, curation) {
  $("#detail-title").textContent = `${row.title}${row.subtitle ? ` — ${row.subtitle}` : ""}`;
  const body = $("#detail-body");
  body.replaceChildren(el("p", { class: "muted" }, "loading…"));
  $("#detail").hidden = false;
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
  if (curation) {
    const prefer = (value, label) => el("button", { type: "button", class: row.preference === value ? "on" : "",
      dataset: { prefer: value },
      onclick: () => { curation.setRecord(row, "preference", row.preference === value ? null : value); $("#detail").hidden = true; } }, label);
    const note = el("textarea", { class: "note-box", placeholder: "Note (saved when you leave the box)" });
    note.value = row.note || "";
    note.addEventListener("change", () => curation.setRecord(row, "note", note.value.trim() || null));
    parts.push(el("h3", {}, "Which column is better?"),
      el("div", { class: "prefs" }, ...columns.map((c) => prefer(c.id, columnLabel(c))), prefer("tie", "tie"), prefer("all_bad", "all bad")), note);
  }
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
