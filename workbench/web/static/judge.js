// The judge (⚖ Judge): pick two of the shown columns and a judge model, edit the rubric, start it, and see
// how far its verdicts agree with people's. Fills #judge-dialog. Every value is inserted as text (dom.js el).
import { api } from "./api.js";
import { $, el } from "./dom.js";
import { num } from "./metrics.js";
import { returnFocusOnClose } from "./panels.js";

const POLL_MS = 1000;
const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`);

// "72% (95% CI 60–82%) of 40", with "small sample" said when it is.
export function proportionText(p) {
  if (!p || !p.n) return "no records yet";
  const interval = p.low === null || p.low === undefined ? "" : ` (95% CI ${pct(p.low)}–${pct(p.high)})`;
  return `${pct(p.value)}${interval} of ${p.n}${p.small ? ", small sample" : ""}`;
}

export function agreementLines(a) {
  const lines = [];
  if (!a.n) lines.push("no human preferences yet between these two columns");
  else {
    lines.push(`agrees with people: ${proportionText(a.percent)}`);
    const interval = a.kappa_low === null || a.kappa_low === undefined ? "" : ` (95% CI ${num(a.kappa_low, 2)}–${num(a.kappa_high, 2)})`;
    lines.push(`Cohen's κ with people: ${num(a.kappa, 2)}${interval}, n = ${a.n}${a.small ? " (small sample)" : ""}`);
  }
  lines.push(`position consistency (same verdict in both orders): ${proportionText(a.consistency)}`);
  return lines;
}

// ctx: { datasetId(), columns() -> [{id, label, run_id, model_id}], models() -> configured models,
//        reload(), toast(msg, kind) }
export function setupJudge(ctx) {
  const dialog = $("#judge-dialog");
  let timer = null;
  let defaultRubric = "";
  const agreements = new Map();  // judge id -> {done, status, figures}
  let verdictsCame = false;  // while open: the grid's ⚖ badges are refreshed when it closes
  let shown = null;  // what the list shows: rebuilt only when it changes (an open <details> stays open)

  const columnA = el("select", { id: "judge-column-a", "aria-label": "First column to judge" });
  const columnB = el("select", { id: "judge-column-b", "aria-label": "Second column to judge" });
  const judgeModel = el("select", { id: "judge-model", "aria-label": "Judge model" });
  const rubric = el("textarea", { id: "judge-rubric", rows: "7", maxlength: "20000", "aria-label": "Rubric: what makes an answer better" });
  const start = el("button", { type: "button", class: "primary", id: "judge-start", dataset: { needs: "admin" } }, "Start judge");
  const reset = el("button", { type: "button", id: "judge-rubric-reset" }, "Default rubric");
  const message = el("p", { class: "muted judge-message", role: "status" });
  const list = el("div", { class: "judge-list", id: "judge-list", "aria-live": "polite" });
  const close = el("button", { type: "button", id: "judge-close", "aria-label": "Close Judge" }, "✕");

  dialog.replaceChildren(
    el("div", { class: "dialog-head" }, el("h2", { id: "judge-title" }, "⚖ Judge"), close),
    el("p", { class: "muted" }, "A model asked which of two answers is better, on the records where the two columns disagree, "
      + "in both orders (a verdict that flips with the order is shown as inconsistent). Its verdicts are suggestions, "
      + "kept apart from people's preferences."),
    el("div", { class: "judge-form" },
      el("label", { for: "judge-column-a" }, "Column A"), columnA,
      el("label", { for: "judge-column-b" }, "Column B"), columnB,
      el("label", { for: "judge-model" }, "Judge model"), judgeModel,
      el("label", { for: "judge-rubric", class: "judge-rubric-label" }, "Rubric"), rubric,
      el("div", { class: "judge-actions" }, start, reset, message)),
    el("h3", {}, "Judges of this dataset"),
    list,
  );

  const options = (select, items, chosen) => {
    select.replaceChildren(...items.map(([value, label]) => el("option", { value, selected: value === chosen }, label)));
  };

  function fillForm() {
    const columns = ctx.columns();
    const pairs = columns.map((c) => [c.id, c.label || c.id]);
    options(columnA, pairs, columnA.value || (columns[0] && columns[0].id));
    options(columnB, pairs, columnB.value || (columns[1] && columns[1].id));
    options(judgeModel, (ctx.models() || []).map((m) => [m.id, m.name ? `${m.name} (${m.id})` : m.id]), judgeModel.value);
    const enough = columns.length >= 2 && judgeModel.options.length > 0;
    start.disabled = !enough;
    message.textContent = columns.length < 2 ? "Show at least two columns in the grid to judge them."
      : !judgeModel.options.length ? "Add a model to be the judge first." : "";
  }

  async function open() {
    if (!ctx.datasetId()) { ctx.toast("Pick a dataset first", "error"); return; }
    returnFocusOnClose(dialog);
    fillForm();
    if (!defaultRubric) {
      try { defaultRubric = (await api("/api/judges/rubric")).rubric; } catch { defaultRubric = ""; }
    }
    if (!rubric.value) rubric.value = defaultRubric;
    if (!dialog.open) dialog.showModal();
    (start.disabled ? close : columnA).focus();
    agreements.clear();
    shown = null;
    verdictsCame = false;
    poll();
  }

  function stopPolling() { clearTimeout(timer); timer = null; }

  async function poll() {
    stopPolling();
    if (!dialog.open) return;
    let running = true;
    try { running = await refresh(); } catch (error) { shown = null; list.replaceChildren(el("p", { class: "err" }, error.message)); }
    // Once every judge has ended nothing more comes: a judge started here polls again.
    if (dialog.open && running) timer = setTimeout(poll, POLL_MS);
  }

  async function refresh() {
    const datasetId = ctx.datasetId();
    const judges = await api(`/api/judges?${new URLSearchParams({ dataset_id: datasetId })}`);
    await Promise.all(judges.map(async (j) => {
      const known = agreements.get(j.id);
      if (known && known.done === j.done && known.status === j.status) return;
      if (known) verdictsCame = true;
      try { agreements.set(j.id, { done: j.done, status: j.status, figures: await api(`/api/judges/${j.id}/agreement`) }); } catch { /* shown next time */ }
    }));
    const running = judges.some((j) => !j.finished);
    if (datasetId !== ctx.datasetId()) return running;
    const now = JSON.stringify([judges, [...agreements]]);
    if (now === shown) return running;
    shown = now;
    list.replaceChildren(...(judges.length ? judges.slice().reverse().map(judgeItem)
      : [el("p", { class: "muted" }, "No judge on this dataset yet.")]));
    return running;
  }

  function columnName(columnId) {
    const runId = Number(String(columnId).replace(/^run:/, ""));
    const shown = ctx.columns().find((c) => c.run_id === runId || c.id === columnId);
    return shown ? (shown.label || shown.id) : columnId;
  }

  function judgeItem(j) {
    const fraction = j.total ? Math.min(1, j.done / j.total) : (j.finished ? 1 : 0);
    const figures = (agreements.get(j.id) || {}).figures;
    const state = `${j.status} · ${j.done}/${j.total} verdicts${j.errors ? ` · ${j.errors} errors` : ""}`;
    return el("article", { class: "judge-item", dataset: { judge: String(j.id) }, "aria-label": `Judge ${j.id}` },
      el("div", { class: "judge-item-head" },
        el("strong", {}, `${j.judge_name} judges ${columnName(j.columns[0])} vs ${columnName(j.columns[1])}`),
        el("span", { class: `judge-state ${j.status}` }, state)),
      el("progress", { max: "1", value: String(fraction), "aria-label": `Judge ${j.id} progress` }),
      j.status_reason ? el("p", { class: "muted" }, j.status_reason) : null,
      figures ? el("ul", { class: "judge-figures" }, ...agreementLines(figures).map((line) => el("li", {}, line)))
        : el("p", { class: "muted" }, "agreement with people: …"),
      el("div", { class: "judge-item-foot" },
        el("a", { href: `?${gridView(j)}`, class: "judge-show" }, "Show its records in the grid (these two columns, differences only)")),
      el("details", {}, el("summary", {}, "Rubric"), el("pre", { class: "judge-rubric-text" }, j.rubric)));
  }

  // The page's address for the judged records: the judge's two columns side by side (each row's ⚖ badge).
  const gridView = (j) => new URLSearchParams({ dataset: j.dataset_id, columns: j.columns.join(","), filter: "differences" }).toString();

  start.addEventListener("click", async () => {
    const models = [columnA.value, columnB.value];
    if (models[0] === models[1]) { message.textContent = "Pick two different columns."; return; }
    start.disabled = true;
    message.textContent = "starting…";
    try {
      const body = { dataset_id: ctx.datasetId(), models, judge: judgeModel.value, rubric: rubric.value };
      const judge = await api("/api/judges", { method: "POST", json: body });
      message.textContent = `Judge ${judge.id} started: ${judge.total / 2} record(s) to judge in both orders.`;
      ctx.toast(`Judge ${judge.id} started`);
      verdictsCame = true;
      poll();
    } catch (error) {
      message.textContent = error.message;
    } finally { start.disabled = false; }
  });
  reset.addEventListener("click", () => { rubric.value = defaultRubric; rubric.focus(); });
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { stopPolling(); if (verdictsCame) ctx.reload(); });
  $("#open-judge").addEventListener("click", open);
}
