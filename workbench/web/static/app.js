// The workbench page: datasets → models → run → live results side by side → filter → export.
import { ready as accountsReady, refuse } from "./accounts.js";
import { api, download as saveDownload, upload, withToken } from "./api.js";
import { createColumns } from "./columns.js";
import { createCuration, setupUser } from "./curation.js";
import { $, el, toast } from "./dom.js";
import { columnLabel, Grid } from "./grid.js";
import { connectLive } from "./live.js";
import { openMetrics } from "./metrics.js";
import { showAnnotatorAgreement } from "./agreement.js";
import { setupBulk } from "./bulk.js";
import { setupJudge } from "./judge.js";
import { setupModelsDialog } from "./models.js";
import * as panels from "./panels.js";
import { createReview } from "./review.js";
import { renderDatasetActions, setupUploadOptions, suggestIdField } from "./datasetbar.js";
import { FILTERS, readView, writeView } from "./urlstate.js";

const { openDetail, renderCompare, renderJobs, renderStats } = panels;

// With accounts on, nothing loads (the live socket included) until someone has signed in.
await accountsReady();

const PAGE = 100;
// selected: the models picked to run (▶ Run); the grid's columns (runs) are columns.ids().
const state = {
  datasets: [], models: [], datasetId: null, selected: [], filter: "all", q: "",
  diffField: "", sort: "record", verdicts: [], drill: null, record: null,
  view: null, nextCursor: null, loading: null, generation: 0, runs: [], progress: new Map(),
};

const grid = new Grid({
  container: $("#grid"), spacer: $("#grid-spacer"), head: $("#grid-head"), empty: $("#grid-empty"),
  onOpen: (row) => showDetail(row),
  onNeedMore: () => loadMore(),
  onAct: (row, column, action) => act(row, column, action),
});
const columns = createColumns({
  models: () => state.models, picked: () => state.selected, onChange: () => reload(),
});
let tasks = null;  // the task picker (tasks.js), once loaded
const curation = createCuration({
  datasetId: () => state.datasetId,
  refreshRows: (seqs) => refreshRows(seqs),
  rowChanged: (row) => { grid.update([row]); if (review.isOpen()) review.render(); },
});
const review = createReview({
  grid, curation, view: () => state.view, filter: () => state.filter, datasetId: () => state.datasetId,
  loadMore: () => loadMore(),
});

function act(row, column, action) {
  if (action === "golden") curation.toggleGolden(row, column);
  else if (action === "good" || action === "wrong") curation.judge(row, column, action);
  else if (action === "edit") curation.edit(row, column, state.view.task);
}

// Column id → its label, for the panels that name columns by id (compare, metrics, filter chips).
function columnLabels() {
  return Object.fromEntries((state.view ? state.view.models : []).map((m) => [m.id, columnLabel(m)]));
}

function showDetail(row) {
  state.record = row.record_id;
  syncUrl();
  openDetail(state.datasetId, row, state.view ? state.view.models : [], state.view && state.view.task, curation);
}

async function refreshRows(seqs) {
  if (!state.datasetId || !seqs.length) return;
  try {
    const data = await api(gridUrl({ seqs: seqs.join(","), counts: false }));
    grid.update(data.results);
    if (review.isOpen()) review.render();
  } catch { /* the live socket brings it later */ }
  refreshHeader();
}
const modelsDialog = setupModelsDialog({ onChange: () => loadModels().then(reload) });

function saveSelection() {
  if (state.datasetId) localStorage.setItem(`workbench-models:${state.datasetId}`, JSON.stringify(state.selected));
}

async function loadDatasets() {
  state.datasets = await api("/api/datasets");
  const list = $("#datasets");
  if (!state.datasets.length) {
    list.replaceChildren(el("li", { class: "muted" }, "No datasets yet: upload one below."));
    return;
  }
  $("#examples-from").replaceChildren(el("option", { value: "" }, "this dataset"),
    ...state.datasets.map((d) => el("option", { value: d.id }, d.name)));
  // Each item is one button: a click or Enter opens the dataset.
  list.replaceChildren(...state.datasets.map((d) => el("li", {
    class: d.id === state.datasetId ? "active" : "", title: d.source_name || d.name, dataset: { id: d.id },
  }, el("button", { type: "button", class: "dataset-pick", "aria-current": d.id === state.datasetId ? "true" : null,
    onclick: () => selectDataset(d.id) },
  el("span", { class: "name" }, d.name), el("span", { class: "muted" }, d.record_count.toLocaleString())))));
  showDatasetActions();
}

function showDatasetActions() {
  renderDatasetActions(state.datasets.find((d) => d.id === state.datasetId) || null, {
    onRenamed: async (info) => { $("#dataset-name").textContent = info.name; await loadDatasets(); },
    onDeleted: (id) => leaveDataset(id),
  });
}

// The dataset shown is gone (deleted here or elsewhere): the page moves to another, or the empty state.
async function leaveDataset(id) {
  state.datasets = state.datasets.filter((d) => d.id !== id);
  localStorage.removeItem(`workbench-models:${id}`);
  if (localStorage.getItem("workbench-dataset") === id) localStorage.removeItem("workbench-dataset");
  await loadDatasets();
  if (state.datasetId !== id) return;
  const next = state.datasets[0];
  if (next) { await selectDataset(next.id); return; }
  state.datasetId = null;
  state.view = null;
  state.generation++;
  resetView();
  grid.setColumns([], null);
  grid.reset();
  $("#dataset-name").textContent = "No dataset yet";
  $("#dataset-count").textContent = "";
  columns.load(null);
  showDatasetActions();
  showEmpty({ results: [] });
  syncUrl({ push: true });
}

async function loadModels() {
  state.models = await api("/api/models");
  const known = new Set(state.models.map((m) => m.id));
  state.selected = state.selected.filter((id) => known.has(id));
  renderModelPicks();
}

function renderModelPicks() {
  $("#model-picks").replaceChildren(...state.models.map((m, i) => el("label", { title: `${m.provider}${m.model ? ` · ${m.model}` : ""}` },
    el("input", { type: "checkbox", checked: state.selected.includes(m.id), dataset: { model: m.id },
      onchange: (e) => toggleModel(m.id, e.target.checked) }),
    m.name, i < 9 ? el("span", { class: "key", title: `key ${i + 1}` }, String(i + 1)) : null)));
  if (!state.models.length) $("#model-picks").replaceChildren(el("button", { type: "button", dataset: { needs: "admin" }, onclick: () => modelsDialog.open() }, "+ Add a model"));
}

function toggleModel(id, on) {
  clearWhy();
  state.selected = on ? [...new Set([...state.selected, id])] : state.selected.filter((m) => m !== id);
  state.selected.sort((a, b) => state.models.findIndex((m) => m.id === a) - state.models.findIndex((m) => m.id === b));
  saveSelection();
  renderModelPicks();
  columns.render();  // a picked model that never ran gets a "not run" column
  reload();
}

// view: a view read from the address (restored as it is); without it, a switch to another dataset
// starts from a clean view (nothing of the old dataset's filter, search, drill or few-shot carries over).
// push: the switch is a step Back can undo.
async function selectDataset(id, { view = null, push = true } = {}) {
  const switching = id !== state.datasetId;
  state.datasetId = id;
  localStorage.setItem("workbench-dataset", id);
  if (view) applyView(view);
  else if (switching) resetView();
  if (tasks && switching) tasks.onDataset(id);
  // The columns and the dataset list load beside the picks; the grid needs the columns first.
  const ready = Promise.all([
    columns.load(id, view ? view.columns : null).catch((error) => toast(error.message, "error")),
    loadDatasets(),
  ]);
  state.selected = await initialSelection(id);
  renderModelPicks();
  await ready;
  if (state.datasetId !== id) return;  // another dataset was picked meanwhile
  columns.render();
  if (switching && push) syncUrl({ push: true });
  await reload();
  if (view && view.record && state.datasetId === id) await openRecordById(view.record);
}

// The models picked to run: as kept for this dataset; else the models that ran on it; else, on a
// dataset nothing ran on yet, every configured model when there are at most three (a demo's models).
async function initialSelection(id) {
  const configured = (m) => state.models.some((x) => x.id === m);
  let stored = null;
  try { stored = JSON.parse(localStorage.getItem(`workbench-models:${id}`) || "null"); } catch { stored = null; }
  if (Array.isArray(stored)) return stored.filter(configured);
  let runs = [];
  try { runs = await api(`/api/runs?dataset_id=${encodeURIComponent(id)}`); } catch { runs = []; }
  if (runs.length) return [...new Set(runs.map((r) => r.model_id))].filter(configured);
  return state.models.length <= 3 ? state.models.map((m) => m.id) : [];
}

// What belongs to one dataset, cleared when the page moves to another.
function resetView() {
  Object.assign(state, { filter: "all", q: "", diffField: "", sort: "record", verdicts: [], drill: null, record: null });
  $("#search").value = "";
  $("#sort").value = "record";
  $("#few-shot").value = "0";
  $("#examples-from").value = "";
  closeVerdictForm();
  clearComparePanel();
  $("#detail").hidden = true;
  clearWhy();
}

// A view from the address: the page's state as the link says.
function applyView(view) {
  Object.assign(state, { filter: view.filter, q: view.q, diffField: view.diffField, sort: view.sort,
    verdicts: view.verdicts, drill: view.drill, record: null });
  $("#search").value = view.q;
  $("#sort").value = view.sort;
  clearComparePanel();
  $("#detail").hidden = true;
}

function clearComparePanel() {
  if (typeof panels.clearCompare === "function") { panels.clearCompare(); return; }
  const box = $("#compare-panel");
  box.hidden = true;
  box.replaceChildren();
}

// The address follows the view (replaceState), a dataset switch is a history step (pushState).
function syncUrl({ push = false } = {}) {
  writeView({
    dataset: state.datasetId, columns: state.datasetId && columns.known() ? columns.ids() : null,
    filter: state.filter, q: state.q, sort: state.sort, diffField: state.diffField, verdicts: state.verdicts,
    drill: state.drill, record: state.record,
  }, { push });
}

// The record of a shared link: its row (on the first page, or asked by its seq) and its panel.
async function openRecordById(recordId) {
  const id = state.datasetId;
  try {
    let row = grid.rows.find((r) => r.record_id === recordId);
    if (!row) {
      const record = await api(`/api/datasets/${encodeURIComponent(id)}/records/${encodeURIComponent(recordId)}`);
      const data = await api(gridUrl({ seqs: String(record.seq), counts: false }));
      row = data.results.find((r) => r.record_id === recordId);
    }
    if (row && state.datasetId === id) { showDetail(row); return; }
  } catch { /* not in this dataset: the view without it */ }
  if (state.datasetId === id) { state.record = null; syncUrl(); }
}

function gridUrl(extra = {}) {
  const params = new URLSearchParams({ dataset_id: state.datasetId, filter: state.filter, limit: PAGE, sort: state.sort, ...extra });
  const shown = columns.ids();
  params.set("models", shown.join(","));  // empty: no columns
  if (state.q) params.set("q", state.q);
  if (state.diffField) params.set("diff_field", state.diffField);
  for (const v of state.verdicts.filter((v) => shown.includes(v.model))) params.append("verdict", `${v.model}:${v.field}=${v.value}`);
  if (state.drill) for (const [key, value] of Object.entries(state.drill)) params.set(key, value);
  return `/api/workbench?${params}`;
}

function renderFilterControls(task, shown) {
  const fields = task ? Object.keys(task.verdict_fields) : [];
  const diff = $("#diff-field");
  diff.replaceChildren(el("option", { value: "" }, "any verdict"), ...fields.map((f) => el("option", { value: f, selected: f === state.diffField }, f)));
  const ran = shown.filter((m) => m.run_id !== null && m.run_id !== undefined);  // a "not run" column has no verdicts
  const vm = $("#vf-model");
  const keep = vm.value;
  vm.replaceChildren(...ran.map((m) => el("option", { value: m.id, selected: m.id === keep, title: m.id }, columnLabel(m))));
  const vf = $("#vf-field");
  const keepField = vf.value;
  vf.replaceChildren(...fields.map((f) => el("option", { value: f, selected: f === keepField }, f)));
  fillVerdictValues(task);
  const labels = Object.fromEntries(shown.map((m) => [m.id, columnLabel(m)]));
  const chip = (text, remove) => el("button", { type: "button", class: "chip", title: "remove this filter",
    "aria-label": `Remove filter: ${text}`, onclick: remove }, `${text} ✕`);
  const drill = state.view && state.view.drill;
  const chips = state.verdicts.filter((v) => v.model in labels).map((v) => chip(`${labels[v.model]}: ${v.field} = ${v.value}`,
    () => { state.verdicts.splice(state.verdicts.indexOf(v), 1); reload(); }));
  if (state.drill && drill) {
    chips.push(chip(`${drill.description} (${Number(drill.count).toLocaleString()})`, () => { state.drill = null; reload(); }));
  }
  $("#vf-chips").replaceChildren(...chips);  // never given null: it would show as the text "null"
  verdictFormAvailable(ran.length > 0 && fields.length > 0);
}

// ---- the verdict filter: "+ filter" opens a small form (model, field, value, Add, Cancel) ----
function setupVerdictForm() {
  const opener = $("#vf-add");
  const form = el("span", { id: "vf-form", class: "vf-form", role: "group", "aria-label": "New verdict filter", hidden: true },
    $("#vf-model"), $("#vf-field"), $("#vf-value"),
    el("button", { type: "button", id: "vf-apply", class: "primary" }, "Add"),
    el("button", { type: "button", id: "vf-cancel" }, "Cancel"));
  opener.after(form, el("span", { id: "vf-why", class: "why", role: "status", "aria-live": "polite" }));
  opener.setAttribute("aria-expanded", "false");
  opener.setAttribute("aria-controls", "vf-form");
  opener.addEventListener("click", () => {
    if (opener.getAttribute("aria-disabled") === "true") { $("#vf-why").textContent = opener.title; return; }
    if (form.hidden) openVerdictForm(); else closeVerdictForm();
  });
  $("#vf-cancel").addEventListener("click", () => { closeVerdictForm(); opener.focus(); });
  form.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); closeVerdictForm(); opener.focus(); } });
  $("#vf-apply").addEventListener("click", () => {
    const v = { model: $("#vf-model").value, field: $("#vf-field").value, value: $("#vf-value").value };
    if (!v.model || !v.field || !v.value) return;
    if (!state.verdicts.some((x) => x.model === v.model && x.field === v.field && x.value === v.value)) state.verdicts.push(v);
    closeVerdictForm();
    opener.focus();
    reload();
  });
}

function openVerdictForm() {
  $("#vf-form").hidden = false;
  $("#vf-add").setAttribute("aria-expanded", "true");
  $("#vf-model").focus();
}

function closeVerdictForm() {
  const form = $("#vf-form");
  if (form) form.hidden = true;
  $("#vf-add").setAttribute("aria-expanded", "false");
}

// Without columns (or verdict fields) there is nothing to filter on: the opener says so.
function verdictFormAvailable(available) {
  const opener = $("#vf-add");
  opener.setAttribute("aria-disabled", available ? "false" : "true");
  opener.title = available ? "Only records where a column gave a verdict"
    : "No columns with verdicts yet: ▶ Run a model (or pick its runs under Columns ▾) to filter on its answers.";
  if (available) $("#vf-why").textContent = "";
  else closeVerdictForm();
}

function fillVerdictValues(task) {
  const options = task && task.verdict_fields[$("#vf-field").value] || [];
  $("#vf-value").replaceChildren(...options.map((o) => el("option", { value: o }, o)));
}

// state.loading: the token of the load under way (a reload's or the next page's), or null. Each load
// releases only its own token, so a page asked for while a reload ends is never cut off.
function startLoading() {
  state.loading = {};
  return state.loading;
}

function doneLoading(token) {
  if (state.loading === token) state.loading = null;
}

async function reload() {
  if (!state.datasetId) return;
  const generation = ++state.generation;
  const token = startLoading();
  heardDuringReload = [];
  clearWhy();
  try {
    // Rows first; the counts (a scan of the whole dataset the first time) follow on their own.
    let data;
    try {
      data = await api(gridUrl({ counts: false }));
    } catch (error) {
      // A view the server refuses (a link's unknown field or drill): the plain view instead.
      if (error.status !== 422 || generation !== state.generation || !hasFilters()) throw error;
      toast(`This view can't be shown (${error.message}); showing all records.`, "error");
      Object.assign(state, { filter: "all", q: "", diffField: "", verdicts: [], drill: null });
      $("#search").value = "";
      data = await api(gridUrl({ counts: false }));
    }
    if (generation !== state.generation) return;
    if (!data.drill) state.drill = null;
    state.view = data;
    catchUp();
    state.nextCursor = data.next_cursor;
    live.setCursor(data.last_event_id);
    $("#dataset-name").textContent = data.dataset.name;
    $("#dataset-count").textContent = `${data.dataset.count.toLocaleString()} records`;
    grid.setColumns(data.models, data.task);
    // The rows and their cursor are in: a grid whose first page doesn't fill it asks for the next.
    doneLoading(token);
    grid.reset();
    grid.append(data.results);
    renderFilterControls(data.task, data.models);
    renderCounts(null);
    renderStats(data);
    showEmpty(data);
    syncUrl();
    loadCounts(generation);
    await loadRuns();
  } catch (error) {
    if (generation === state.generation) heardDuringReload = null;
    toast(error.message, "error");
  } finally {
    doneLoading(token);
  }
}

async function loadCounts(generation) {
  try {
    const { counts } = await api(gridUrl({ limit: 1, sort: "record" }));
    if (generation !== state.generation) return;
    state.view.counts = counts;
    renderCounts(counts);
    renderStats(state.view);
  } catch (error) {
    toast(error.message, "error");
  }
}

const hasFilters = () => state.filter !== "all" || Boolean(state.q || state.diffField || state.verdicts.length || state.drill);

function showEmpty(data) {
  const empty = $("#grid-empty");
  let text = "";
  if (!data.models || !data.models.length) {
    text = state.selected.length ? "No columns: choose runs under Columns ▾, or ▶ Run selected models."
      : "Pick one or more models above, then ▶ Run selected models.";
  }
  else if (!data.results.length) text = hasFilters() ? "No records match this filter." : "No records.";
  empty.textContent = text;
  empty.hidden = !text;
}

async function loadMore() {
  if (state.loading || state.nextCursor === null || !state.datasetId) return;
  const generation = state.generation;
  const token = startLoading();
  try {
    const data = await api(gridUrl({ cursor: state.nextCursor, counts: false }));
    if (generation !== state.generation) return;
    state.nextCursor = data.next_cursor;
    // Released before the rows land: a grid scrolled past them asks for the next page at once.
    doneLoading(token);
    grid.append(data.results);
  } catch (error) {
    toast(error.message, "error");
  } finally {
    doneLoading(token);
  }
}

function renderCounts(counts) {
  for (const button of document.querySelectorAll("#filter-tabs button")) {
    const active = button.dataset.filter === state.filter;
    button.classList.toggle("active", active);
    button.setAttribute("aria-selected", active ? "true" : "false");
    button.tabIndex = active ? 0 : -1;
    const n = counts ? counts[button.dataset.filter] : null;
    button.querySelector(".count").textContent = n === null || n === undefined ? "" : n.toLocaleString();
  }
}

async function loadRuns() {
  if (!state.datasetId) return;
  state.runs = await api(`/api/runs?dataset_id=${encodeURIComponent(state.datasetId)}`);
  showJobs();
}
// Asked by an event (a run's state, the socket back, a job's button): a failure waits for the next one.
const refreshRuns = () => loadRuns().catch(() => {});

function showJobs() {
  renderJobs(state.runs, state.progress, () => refreshRuns().then(refreshHeader), (runId) => columns.labelOf(runId));
}

// Runs started, finished or changed state: the column list follows (labels, statuses, new runs).
async function refreshColumns() {
  try {
    if (await columns.refresh()) { reload(); return; }
  } catch { /* retried on the next event */ }
  refreshHeader();
}

// A result matters to the page when it is for one of its columns: the column of that run, or a
// model-id column (the latest run of that model).
function showsResult(item) {
  if (item.dataset_id !== state.datasetId || !state.view) return false;
  return state.view.models.some((m) => m.run_id === item.run_id || m.id === item.model_id);
}

// ---- live updates: coalesced, and only rows on screen are refetched ----
let pendingSeqs = new Set();
// Results heard while a reload was under way were judged by the columns before it: their rows are
// fetched again for the new columns. All of them: the answer's last_event_id is read after its rows,
// so a result committed in between has an id below it and yet is not in the rows.
let heardDuringReload = null;

function catchUp() {
  const heard = heardDuringReload || [];
  heardDuringReload = null;
  for (const item of heard) if (showsResult(item)) pendingSeqs.add(item.seq);
  if (pendingSeqs.size) scheduleRowRefresh();
}
let refreshTimer = null;
let headerTimer = null;

// One row refresh at a time, so answers land in the order asked (an older answer landing last would
// put back cells from before); one that a reload overtook asks again for the reloaded rows.
let refreshingRows = false;

function scheduleRowRefresh() {
  if (refreshTimer || refreshingRows) return;  // while one is under way, the next is scheduled after it
  refreshTimer = setTimeout(refreshPendingRows, 300);
}

async function refreshPendingRows() {
  refreshTimer = null;
  const onScreen = new Set(grid.visibleSeqs());
  const seqs = [...pendingSeqs].filter((s) => onScreen.has(s) || grid.bySeq.has(s));
  pendingSeqs = new Set(seqs.slice(500));
  const asked = seqs.slice(0, 500);
  const generation = state.generation;
  refreshingRows = true;
  try {
    if (asked.length && state.datasetId) {
      const data = await api(gridUrl({ seqs: asked.join(","), counts: false }));
      if (generation === state.generation) grid.update(data.results);
      else for (const seq of asked) pendingSeqs.add(seq);
    }
  } catch { /* the next event retries */ } finally {
    refreshingRows = false;
  }
  if (!grid.rows.length && state.filter !== "all") reload();
  if (pendingSeqs.size) scheduleRowRefresh();
}

function refreshHeader() {
  if (headerTimer) return;
  headerTimer = setTimeout(async () => {
    headerTimer = null;
    if (!state.datasetId) return;
    try {
      const data = await api(gridUrl({ limit: 1, sort: "record" }));  // sorting is not needed for one row
      state.view.models = data.models;
      grid.setColumns(data.models, data.task);
      renderCounts(data.counts);
      renderStats(data);
      if (grid.rows.length < PAGE && data.results.length && !grid.rows.length) reload();
    } catch { /* retried on the next event */ }
  }, 1000);
}

function onLive(messages) {
  let header = false;
  for (const message of messages) {
    if (message.type === "result") {
      for (const item of message.items) {
        if (heardDuringReload && item.dataset_id === state.datasetId) { heardDuringReload.push(item); header = true; }
        if (showsResult(item)) { pendingSeqs.add(item.seq); header = true; }
      }
    } else if (message.type === "progress") {
      state.progress.set(message.run_id, message);
    } else if (message.type === "run_state") {
      if (message.dataset_id === state.datasetId) { refreshRuns(); refreshColumns(); }
    } else if (message.type === "dataset") {
      datasetChanged();
    } else if (message.type === "annotation") {
      if (message.dataset_id !== state.datasetId) continue;
      // A bulk action (or its undo) is one message for many records: the view is read again.
      if (message.bulk) reload();
      else { pendingSeqs.add(message.seq); header = true; }
    }
  }
  if (pendingSeqs.size) scheduleRowRefresh();
  if (header) refreshHeader();
  showJobs();
}

// A dataset was imported, renamed or deleted (here or elsewhere): the list follows, and the page
// leaves a dataset that is gone.
async function datasetChanged() {
  try {
    await loadDatasets();
  } catch { return; }
  const current = state.datasets.find((d) => d.id === state.datasetId);
  if (state.datasetId && !current) await leaveDataset(state.datasetId);
  else if (current && !$("#dataset-rename-input")) $("#dataset-name").textContent = current.name;
}

const live = connectLive({
  lastId: null,
  onMessages: onLive,
  onState: (s) => {
    const conn = $("#conn");
    conn.textContent = s === "live" ? "● live" : "● reconnecting…";
    conn.className = `conn ${s}`;
    if (s === "live" && state.datasetId) { refreshRuns(); refreshColumns(); }
  },
});

// ---- actions ----
// An impossible action says why next to its control (an aria-live region), not only at the bottom.
const whyTimers = new Map();
function explain(box, text) {
  box.textContent = text;
  clearTimeout(whyTimers.get(box));
  whyTimers.set(box, setTimeout(() => { box.textContent = ""; }, 8000));
}

function clearWhy() {
  for (const box of document.querySelectorAll("#run-why, .why[data-for]")) box.textContent = "";
  $("#model-picks").classList.remove("attention");
}

// The message box right after a control (made once, at setup, so screen readers hear its changes).
function whyBox(anchor, name) {
  const box = el("span", { class: "why", role: "status", "aria-live": "polite", dataset: { for: name } });
  anchor.after(box);
  return box;
}
const why = {};

async function runSelected() {
  if (refuse("admin")) return;
  if (!state.datasetId) return explain($("#run-why"), "Upload or pick a dataset first (left).");
  if (!state.models.length) return explain($("#run-why"), "No models yet: add one with + Add a model.");
  if (!state.selected.length) {
    explain($("#run-why"), "Pick at least one model to run (tick it, or press its number key).");
    const picks = $("#model-picks");
    picks.classList.add("attention");
    const first = picks.querySelector("input");
    if (first) first.focus();
    return;
  }
  try {
    const fewShot = Number($("#few-shot").value) || 0;
    const body = { dataset_id: state.datasetId, model_ids: state.selected, few_shot: fewShot, fresh: $("#fresh").checked,
      examples_from: fewShot ? ($("#examples-from").value || null) : null };
    // With the task picker, the chosen task goes along (and missing fields are confirmed there).
    const runs = tasks ? await tasks.startRuns(body) : await api("/api/runs", { method: "POST", json: body });
    if (!runs) return;
    toast(`Started ${runs.length} run(s).`);
    await columns.addRuns(runs);  // each run its own column, beside the model's earlier runs
    await reload();
  } catch (error) { toast(error.message, "error"); }
}

async function compare() {
  const shown = columns.ids();
  if (!state.datasetId) return explain(why.compare, "Pick a dataset first.");
  if (shown.length < 2) return explain(why.compare, `Compare needs at least two columns (${shown.length} shown): run another model or add a run under Columns ▾.`);
  try {
    renderCompare(await api(`/api/compare?${new URLSearchParams({ dataset_id: state.datasetId, models: shown.join(",") })}`),
      columnLabels());
  } catch (error) { toast(error.message, "error"); }
}

function setFilter(filter) {
  if (!FILTERS.includes(filter)) return;
  state.filter = filter;
  renderCounts(state.view && state.view.counts);
  reload();
}

async function uploadFile(file) {
  if (refuse("admin")) return;
  const box = $("#upload-status");
  box.hidden = false;
  $("#upload-errors").replaceChildren();
  $("#upload-bar").style.width = "0";
  $("#upload-text").textContent = `Uploading ${file.name}…`;
  try {
    const info = await upload(file, (fraction) => {
      $("#upload-bar").style.width = `${Math.round(fraction * 100)}%`;
      if (fraction >= 1) $("#upload-text").textContent = `Importing ${file.name}…`;
    }, { idField: uploadOptions.idField() });
    $("#upload-text").textContent = `Imported ${info.record_count.toLocaleString()} records as “${info.name}”.`;
    await loadDatasets();
    await selectDataset(info.id);
  } catch (error) {
    $("#upload-text").textContent = `Nothing imported: ${file.name}`;
    const problems = (error.body && error.body.problems) || [error.message];
    const items = problems.map((p) => el("li", {}, String(p)));
    if (error.body && error.body.more) items.push(el("li", {}, `… and ${error.body.more} more`));
    const duplicate = problems.map(String).find((p) => p.startsWith("duplicate ids in field"));
    if (duplicate) {
      const failing = (duplicate.match(/^duplicate ids in field '([^']*)'/) || [])[1] || null;
      const field = await suggestIdField(file, failing);
      items.push(el("li", { class: "hint" }, field
        ? `Try the id field “${field}” (its values are unique): type it in “id field” above and upload again.`
        : "Type the name of a field with unique values in “id field” above and upload again."));
      uploadOptions.focus();
    }
    $("#upload-errors").replaceChildren(...items);
  }
}

function setupUpload() {
  const zone = $("#dropzone");
  const input = $("#upload-input");
  input.addEventListener("change", () => input.files[0] && uploadFile(input.files[0]).finally(() => { input.value = ""; }));
  for (const target of [zone, $("#left")]) {
    target.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    target.addEventListener("dragleave", () => zone.classList.remove("over"));
    target.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      if (e.dataTransfer.files[0]) uploadFile(e.dataTransfer.files[0]);
    });
  }
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
}

function setupKeys() {
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "z" && !e.target.closest("input, textarea")) {
      e.preventDefault();
      curation.undo();
      return;
    }
    // Enter and Space on a button (the column picker's included) press it.
    if ((e.key === "Enter" || e.key === " ") && e.target.closest("button, #column-picks")) return;
    if (review.onKey(e)) return;
    if (review.isOpen()) return;
    if (document.querySelector("dialog[open]") || e.target.closest("input, textarea, select")) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    const row = grid.current();
    const first = state.view && state.view.models[0];
    if (e.key === "j") grid.move(1);
    else if (e.key === "r") openReview();
    else if (e.key === "g" && row && first) curation.toggleGolden(row, first);
    else if (e.key === "w" && row && first) curation.judge(row, first, "wrong");
    else if (e.key === "e" && row && first) curation.edit(row, first, state.view.task);
    else if (e.key === "k") grid.move(-1);
    else if (e.key === "Enter" || e.key === "o") { const row = grid.current(); if (row) grid.onOpen(row); }
    else if (e.key === "Escape") $("#detail").hidden = true;
    else if (e.key === "/") { e.preventDefault(); $("#search").focus(); }
    else if (/^[1-9]$/.test(e.key)) {
      const model = state.models[Number(e.key) - 1];
      if (model) toggleModel(model.id, !state.selected.includes(model.id));
    } else return;
    e.preventDefault();
  });
}

function setupControls() {
  $("#run-selected").addEventListener("click", runSelected);
  $("#qa-run").addEventListener("click", runSelected);
  $("#compare").addEventListener("click", compare);
  $("#qa-diff").addEventListener("click", () => setFilter("differences"));
  $("#qa-models").addEventListener("click", () => modelsDialog.open());
  $("#open-models").addEventListener("click", () => modelsDialog.open());
  $("#detail-close").addEventListener("click", () => { $("#detail").hidden = true; });
  $("#undo").addEventListener("click", () => curation.undo());
  why.compare = whyBox($("#compare"), "compare");
  why.export = whyBox($("#export").parentElement, "export");
  why.review = whyBox($("#open-review"), "review");
  why.metrics = whyBox($("#open-metrics"), "metrics");
  $("#open-review").addEventListener("click", openReview);
  $("#open-metrics").addEventListener("click", () => {
    if (!state.datasetId) return explain(why.metrics, "Pick a dataset first.");
    openMetrics(state.datasetId, columns.ids(), columnLabels(), drillTo);
    showAnnotatorAgreement($("#metrics-people"), state.datasetId, columns.ids(), (params) => { $("#metrics-dialog").close(); drillTo(params); });
  });
  $("#metrics-close").addEventListener("click", () => $("#metrics-dialog").close());
  $("#edit-close").addEventListener("click", () => $("#edit-dialog").close());
  $("#diff-field").addEventListener("change", (e) => {
    state.diffField = e.target.value;
    if (state.diffField && state.filter !== "differences") state.filter = "differences";
    reload();
  });
  $("#sort").addEventListener("change", (e) => { state.sort = e.target.value; reload(); });
  $("#vf-field").addEventListener("change", () => fillVerdictValues(state.view && state.view.task));
  setupVerdictForm();
  setupFilterTabs();
  let searchTimer;
  $("#search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.q = e.target.value.trim(); reload(); }, 250);
  });
  $("#export").addEventListener("click", () => {
    if (!state.datasetId) { $("#export-menu").hidden = true; return explain(why.export, "Pick a dataset first: there is nothing to export."); }
    $("#export-menu").hidden = !$("#export-menu").hidden;
  });
  // The record panel closes in several ways (✕, Esc, a pick): the address forgets the record with it.
  new MutationObserver(() => {
    if ($("#detail").hidden && state.record) { state.record = null; syncUrl(); }
  }).observe($("#detail"), { attributes: true, attributeFilter: ["hidden"] });
  for (const link of document.querySelectorAll("#export-menu a")) {
    link.addEventListener("click", (e) => {
      e.preventDefault();
      $("#export-menu").hidden = true;
      if (!state.datasetId) return explain(why.export, "Pick a dataset first: there is nothing to export.");
      const params = new URLSearchParams({ dataset_id: state.datasetId });
      if (link.dataset.format) params.set("format", link.dataset.format);
      if (link.dataset.layout) params.set("layout", link.dataset.layout);
      if (link.dataset.judge) params.set("judge", link.dataset.judge);
      const shown = columns.ids();
      if (shown.length) params.set("models", shown.join(","));
      download(withToken(`/api/exports/${encodeURIComponent(link.dataset.kind)}?${params}`));
    });
  }
}

function openReview() {
  if (!state.datasetId) return explain(why.review, "Pick a dataset first.");
  const answered = state.view && state.view.models.some((m) => m.run_id !== null && m.run_id !== undefined);
  if (!answered) return explain(why.review, "Nothing to review yet: ▶ Run a model first (or pick its runs under Columns ▾).");
  if (!grid.rows.length) return explain(why.review, "No rows to review under this filter: choose All or clear the search.");
  review.open();
}

// A click in Metrics (a confusion cell, an agreement figure): the grid shows those records.
function drillTo(params) {
  state.drill = params;
  reload();
}

// The filter tabs: one tab stop; arrow keys, Home and End move between them (and choose).
function setupFilterTabs() {
  const tabs = [...document.querySelectorAll("#filter-tabs button")];
  renderCounts(null);  // aria-selected and one tab stop from the start
  for (const button of tabs) {
    button.addEventListener("click", () => setFilter(button.dataset.filter));
    button.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(button);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      e.stopPropagation();
      const next = tabs[(to + tabs.length) % tabs.length];
      next.focus();
      setFilter(next.dataset.filter);
    });
  }
}

// Downloads go through fetch first so a problem ("no golden examples yet") shows as a message.
async function download(url) {
  try { await saveDownload(url); } catch (error) { toast(error.message, "error"); }
}

// The task picker beside ▶ Run (tasks.js); the page works without it (the default task).
async function setupTaskPicker() {
  let module;
  try { module = await import("./tasks.js"); } catch { return; }
  try {
    tasks = module.setupTasks({
      datasetId: () => state.datasetId,
      record: () => grid.current() || grid.rows[0] || null,
      models: () => state.models,
      onSaved: () => refreshColumns(),
    });
  } catch (error) { toast(`task picker: ${error.message}`, "error"); }
}

const uploadOptions = setupUploadOptions();

// What the judge and bulk modules see of the page.
function viewParams() {
  const params = new URL(gridUrl(), location.origin).searchParams;
  params.delete("limit");
  return params;
}
const shownColumns = () => (state.view ? state.view.models : []).map((m) => ({ ...m, label: columnLabel(m) }));

async function start() {
  setupUser();
  setupControls();
  setupJudge({ datasetId: () => state.datasetId, columns: shownColumns, models: () => state.models, reload, toast });
  setupBulk({ datasetId: () => state.datasetId, viewParams, columns: shownColumns, reload, toast });
  setupUpload();
  setupKeys();
  const taskPicker = setupTaskPicker();
  try {
    // The task picker is ready before a dataset is picked: it picks the dataset's last task.
    await Promise.all([loadModels(), loadDatasets(), taskPicker]);
    // The address first (a shared link, a reload), then the dataset this browser showed last.
    const view = readView();
    const linked = view.dataset && state.datasets.find((d) => d.id === view.dataset);
    if (view.dataset && !linked) toast(`No dataset “${view.dataset}” here: showing another.`, "error");
    const remembered = localStorage.getItem("workbench-dataset");
    const first = linked || state.datasets.find((d) => d.id === remembered) || state.datasets[0];
    if (first) await selectDataset(first.id, { view: linked ? view : null, push: false });
    else { showEmpty({ results: [] }); syncUrl(); }
    window.addEventListener("popstate", () => {
      const back = readView();
      const known = back.dataset && state.datasets.find((d) => d.id === back.dataset);
      if (known) selectDataset(known.id, { view: back, push: false });
    });
  } catch (error) {
    toast(error.message, "error");
  }
}

start();
