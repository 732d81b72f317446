// The grid's columns: an explicit list of column ids per dataset ("run:ID", or a model id = the latest
// run of that model), kept in localStorage. A column is a run, so two runs of one model can sit side by
// side and a new run never hides a finished one. The picker lives in #column-picks.
import { api } from "./api.js";
import { $, el } from "./dom.js";

const storageKey = (datasetId) => `workbench-columns:${datasetId}`;
export const runColumn = (runId) => `run:${runId}`;
export const columnRunId = (id) => (/^run:\d+$/.test(id) ? Number(id.slice(4)) : null);

// ctx: { models() → configured models (for their order and names), picked() → model ids picked to run,
//        onChange() → the columns changed (reload the grid) }
export function createColumns(ctx) {
  let datasetId = null;
  let runs = [];  // GET /api/columns: every run of the dataset, newest first
  let chosen = [];  // the explicit column ids, in order
  let known = true;  // false while the server has no /api/columns: columns are the picked models then
  let open = false;

  const modelOrder = (modelId) => {
    const i = ctx.models().findIndex((m) => m.id === modelId);
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  const runOf = (id) => runs.find((r) => r.id === id || r.run_id === columnRunId(id));
  const modelOf = (id) => (runOf(id) ? runOf(id).model_id : columnRunId(id) === null ? id : null);
  const ranModels = () => new Set(runs.map((r) => r.model_id));

  // Models picked to run that never ran here still get a ("not run") column, as before columns were runs.
  function placeholders() {
    const shown = new Set(chosen.map(modelOf));
    const ran = ranModels();
    return ctx.picked().filter((m) => !ran.has(m) && !shown.has(m));
  }

  function ids() {
    if (!known) return [...ctx.picked()];
    return [...chosen, ...placeholders()];
  }

  function save() {
    if (datasetId) localStorage.setItem(storageKey(datasetId), JSON.stringify(chosen));
  }

  // The latest run of each model, in the models' order: the columns of a dataset seen for the first time.
  function defaults() {
    return runs.filter((r) => r.latest)
      .sort((a, b) => modelOrder(a.model_id) - modelOrder(b.model_id) || a.run_id - b.run_id)
      .map((r) => r.id);
  }

  // The dataset's runs; kept only if the page is still on that dataset (another may be picked meanwhile).
  async function fetchRuns() {
    const asked = datasetId;
    let answer;
    try {
      answer = await api(`/api/columns?dataset_id=${encodeURIComponent(asked)}`);
    } catch (error) {
      if (error.status !== 404 && error.status !== 405) throw error;
      answer = null;  // a server without columns: fall back to model columns
    }
    if (asked !== datasetId) return false;
    known = Array.isArray(answer);
    runs = known ? answer : [];
    return true;
  }

  // A column id that can be shown: a run of this dataset, or a configured model (its latest run).
  const usable = (c) => typeof c === "string" && (columnRunId(c) === null
    ? ctx.models().some((m) => m.id === c) || runs.some((r) => r.model_id === c) : Boolean(runOf(c)));

  // initial: the column ids of a shared view (the address); unknown ones are dropped. Without it, the
  // columns kept for this dataset, else the latest run of each model.
  async function load(id, initial = null) {
    datasetId = id;
    chosen = [];
    if (!id) { runs = []; render(); return; }  // no dataset left
    if (!await fetchRuns()) return;
    let stored = null;
    try { stored = JSON.parse(localStorage.getItem(storageKey(id)) || "null"); } catch { stored = null; }
    if (Array.isArray(initial)) {
      chosen = [...new Set(initial.filter(usable))];
    } else if (Array.isArray(stored)) {
      chosen = stored.filter((c) => typeof c === "string" && (columnRunId(c) === null || runOf(c)));
    } else {
      chosen = defaults();
    }
    render();
  }

  // Runs changed (started here or elsewhere): a model shown as "not run" that has run now shows that run.
  async function refresh() {
    if (!datasetId) return false;
    const waiting = known ? placeholders() : [];
    const before = ids().join(",");
    if (!await fetchRuns()) return false;
    const added = waiting.map((m) => runs.find((r) => r.model_id === m && r.latest)).filter(Boolean);
    if (added.length) { for (const run of added) insert(run.id, run.model_id); save(); }
    render();
    return ids().join(",") !== before;
  }

  // A new column goes right after the last column of the same model (side by side), else at the end.
  function insert(id, modelId) {
    if (chosen.includes(id)) return;
    let at = -1;
    chosen.forEach((c, i) => { if (modelOf(c) === modelId) at = i; });
    chosen.splice(at < 0 ? chosen.length : at + 1, 0, id);
  }

  // Runs just started (POST /api/runs answers): each gets its column; the earlier runs stay.
  async function addRuns(started) {
    if (!known || !started || !started.length) return;
    await fetchRuns().catch(() => false);  // for their labels; the runs get their columns regardless
    for (const run of started.filter((r) => r.dataset_id === datasetId)) {
      chosen = chosen.filter((c) => c !== run.model_id);  // its "latest run" column is this run now
      insert(runColumn(run.id), run.model_id);
    }
    save();
    render();
  }

  // Not re-rendered: the checkbox keeps the focus, only the button's count changes.
  function toggle(id, on) {
    if (on) {
      const run = runOf(id);
      insert(id, run ? run.model_id : id);
    } else chosen = chosen.filter((c) => c !== id);
    save();
    const button = $("#columns-button");
    if (button) button.textContent = buttonText();
    ctx.onChange();
  }

  function useLatest() {
    chosen = defaults();
    save();
    render();
    ctx.onChange();
  }

  const labelOf = (runId) => { const run = runs.find((r) => r.run_id === runId); return run ? run.label : null; };

  // ---- the picker ----
  const buttonText = () => `Columns (${ids().length}) ▾`;

  function render() {
    const box = $("#column-picks");
    if (!box) return;
    const focused = document.activeElement && box.contains(document.activeElement) ? document.activeElement : null;
    const refocus = focused && (focused.dataset.column ? `[data-column="${CSS.escape(focused.dataset.column)}"]`
      : focused.id ? `#${focused.id}` : null);
    if (!known || !datasetId) { box.replaceChildren(); return; }
    const button = el("button", {
      type: "button", id: "columns-button", class: "columns-button", "aria-haspopup": "true",
      "aria-expanded": open ? "true" : "false", "aria-controls": "columns-menu",
      title: "Which runs of this dataset are the grid's columns",
      onclick: () => setOpen(!open),
    }, buttonText());
    const groups = new Map();
    for (const run of runs) {
      if (!groups.has(run.model_id)) groups.set(run.model_id, []);
      groups.get(run.model_id).push(run);
    }
    const order = [...groups.keys()].sort((a, b) => modelOrder(a) - modelOrder(b) || a.localeCompare(b));
    const menu = el("div", {
      id: "columns-menu", class: "columns-menu", role: "group", "aria-label": "Columns: runs of this dataset",
      hidden: !open, onkeydown: (e) => { if (e.key === "Escape") { e.stopPropagation(); setOpen(false); $("#columns-button").focus(); } },
    },
    runs.length ? null : el("p", { class: "muted" }, "No runs yet: ▶ Run a model and its run becomes a column."),
    ...order.map((modelId) => {
      const list = groups.get(modelId);
      return el("fieldset", { class: "columns-model" },
        el("legend", {}, list[0].model_name || modelId),
        ...list.map((run) => el("label", { class: "columns-run", title: run.label },
          el("input", { type: "checkbox", checked: chosen.includes(run.id), dataset: { column: run.id },
            onchange: (e) => toggle(run.id, e.target.checked) }),
          el("span", { class: "columns-label" }, run.label),
          el("span", { class: `status ${String(run.status).replace(" ", "-")}` }, run.status),
          el("span", { class: "muted columns-done" }, `${run.done}/${run.total}`),
          run.latest ? el("span", { class: "muted" }, "latest") : null)));
    }),
    runs.length ? el("div", { class: "columns-actions" },
      el("button", { type: "button", onclick: useLatest }, "Latest run of each model")) : null);
    box.replaceChildren(button, menu);
    if (refocus && box.querySelector(refocus)) box.querySelector(refocus).focus();
  }

  function setOpen(value) {
    open = value;
    render();
    if (open) { const first = $("#columns-menu input"); if (first) first.focus(); }
  }

  // The path as dispatched: the picker re-renders while its own clicks are handled.
  document.addEventListener("click", (e) => {
    if (open && !e.composedPath().includes($("#column-picks"))) setOpen(false);
  });

  return {
    load, refresh, addRuns, ids, labelOf, render,
    isRunColumn: (id) => columnRunId(id) !== null,
    runs: () => runs,
    known: () => known,
  };
}
