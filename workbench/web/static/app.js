// The workbench page: datasets → models → run → live results side by side → filter → export.
import { api, upload, withToken } from "./api.js";
import { createColumns } from "./columns.js";
import { createCuration, setupUser } from "./curation.js";
import { $, el, toast } from "./dom.js";
import { columnLabel, Grid } from "./grid.js";
import { connectLive } from "./live.js";
import { openMetrics } from "./metrics.js";
import { setupModelsDialog } from "./models.js";
import { openDetail, renderCompare, renderJobs, renderStats } from "./panels.js";
import { createReview } from "./review.js";

const PAGE = 100;
// selected: the models picked to run (▶ Run); the grid's columns (runs) are columns.ids().
const state = {
  datasets: [], models: [], datasetId: null, selected: [], filter: "all", q: "",
  diffField: "", sort: "record", verdicts: [],
  view: null, nextCursor: null, loading: false, generation: 0, runs: [], progress: new Map(),
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
  list.replaceChildren(...state.datasets.map((d) => el("li", {
    class: d.id === state.datasetId ? "active" : "", title: d.source_name || d.name, dataset: { id: d.id },
    onclick: () => selectDataset(d.id),
  }, el("span", { class: "name" }, d.name), el("span", { class: "muted" }, d.record_count.toLocaleString()))));
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
    m.name, i < 5 ? el("span", { class: "key" }, String(i + 1)) : null)));
  if (!state.models.length) $("#model-picks").replaceChildren(el("button", { type: "button", onclick: () => modelsDialog.open() }, "+ Add a model"));
}

function toggleModel(id, on) {
  state.selected = on ? [...new Set([...state.selected, id])] : state.selected.filter((m) => m !== id);
  state.selected.sort((a, b) => state.models.findIndex((m) => m.id === a) - state.models.findIndex((m) => m.id === b));
  saveSelection();
  renderModelPicks();
  columns.render();  // a picked model that never ran gets a "not run" column
  reload();
}

async function selectDataset(id) {
  state.datasetId = id;
  localStorage.setItem("workbench-dataset", id);
  if (tasks) tasks.onDataset(id);
  // The columns and the dataset list load beside the picks; the grid needs the columns first.
  const ready = Promise.all([
    columns.load(id).catch((error) => toast(error.message, "error")),
    loadDatasets(),
  ]);
  const stored = localStorage.getItem(`workbench-models:${id}`);
  state.selected = stored ? JSON.parse(stored).filter((m) => state.models.some((x) => x.id === m)) : [];
  if (!stored) {
    // Preselect the models that already ran on this dataset.
    const runs = await api(`/api/runs?dataset_id=${encodeURIComponent(id)}`);
    state.selected = [...new Set(runs.map((r) => r.model_id))].filter((m) => state.models.some((x) => x.id === m));
  }
  renderModelPicks();
  await ready;
  if (state.datasetId !== id) return;  // another dataset was picked meanwhile
  columns.render();
  await reload();
}

function gridUrl(extra = {}) {
  const params = new URLSearchParams({ dataset_id: state.datasetId, filter: state.filter, limit: PAGE, sort: state.sort, ...extra });
  const shown = columns.ids();
  params.set("models", shown.join(","));  // empty: no columns
  if (state.q) params.set("q", state.q);
  if (state.diffField) params.set("diff_field", state.diffField);
  for (const v of state.verdicts.filter((v) => shown.includes(v.model))) params.append("verdict", `${v.model}:${v.field}=${v.value}`);
  return `/api/workbench?${params}`;
}

function renderFilterControls(task, shown) {
  const fields = task ? Object.keys(task.verdict_fields) : [];
  const diff = $("#diff-field");
  diff.replaceChildren(el("option", { value: "" }, "any verdict"), ...fields.map((f) => el("option", { value: f, selected: f === state.diffField }, f)));
  const vm = $("#vf-model");
  const keep = vm.value;
  vm.replaceChildren(...shown.map((m) => el("option", { value: m.id, selected: m.id === keep, title: m.id }, columnLabel(m))));
  const vf = $("#vf-field");
  const keepField = vf.value;
  vf.replaceChildren(...fields.map((f) => el("option", { value: f, selected: f === keepField }, f)));
  fillVerdictValues(task);
  const labels = Object.fromEntries(shown.map((m) => [m.id, columnLabel(m)]));
  $("#vf-chips").replaceChildren(...state.verdicts.filter((v) => v.model in labels).map((v) => el("span", {
    class: "chip", title: "remove", onclick: () => { state.verdicts.splice(state.verdicts.indexOf(v), 1); reload(); } },
    `${labels[v.model]}: ${v.field} = ${v.value} ✕`)));
}

function fillVerdictValues(task) {
  const options = task && task.verdict_fields[$("#vf-field").value] || [];
  $("#vf-value").replaceChildren(...options.map((o) => el("option", { value: o }, o)));
}

async function reload() {
  if (!state.datasetId) return;
  const generation = ++state.generation;
  state.loading = true;
  heardDuringReload = [];
  try {
    // Rows first; the counts (a scan of the whole dataset the first time) follow on their own.
    const data = await api(gridUrl({ counts: false }));
    if (generation !== state.generation) return;
    state.view = data;
    catchUp();
    state.nextCursor = data.next_cursor;
    live.setCursor(data.last_event_id);
    $("#dataset-name").textContent = data.dataset.name;
    $("#dataset-count").textContent = `${data.dataset.count.toLocaleString()} records`;
    grid.setColumns(data.models, data.task);
    grid.reset();
    grid.append(data.results);
    renderFilterControls(data.task, data.models);
    renderCounts(null);
    renderStats(data);
    showEmpty(data);
    loadCounts(generation);
    await loadRuns();
  } catch (error) {
    if (generation === state.generation) heardDuringReload = null;
    toast(error.message, "error");
  } finally {
    if (generation === state.generation) state.loading = false;
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

function showEmpty(data) {
  const empty = $("#grid-empty");
  let text = "";
  if (!data.models || !data.models.length) {
    text = state.selected.length ? "No columns: choose runs under Columns ▾, or ▶ Run selected models."
      : "Pick one or more models above, then ▶ Run selected models.";
  }
  else if (!data.results.length) text = state.filter === "all" && !state.q ? "No records." : "No records match this filter.";
  empty.textContent = text;
  empty.hidden = !text;
}

async function loadMore() {
  if (state.loading || state.nextCursor === null || !state.datasetId) return;
  const generation = state.generation;
  state.loading = true;
  try {
    const data = await api(gridUrl({ cursor: state.nextCursor, counts: false }));
    if (generation !== state.generation) return;
    state.nextCursor = data.next_cursor;
    grid.append(data.results);
  } catch (error) {
    toast(error.message, "error");
  } finally {
    if (generation === state.generation) state.loading = false;
  }
}

function renderCounts(counts) {
  for (const button of document.querySelectorAll("#filter-tabs button")) {
    button.classList.toggle("active", button.dataset.filter === state.filter);
    const n = counts ? counts[button.dataset.filter] : null;
    button.querySelector(".count").textContent = n === null || n === undefined ? "" : n.toLocaleString();
  }
}

async function loadRuns() {
  if (!state.datasetId) return;
  state.runs = await api(`/api/runs?dataset_id=${encodeURIComponent(state.datasetId)}`);
  showJobs();
}

function showJobs() {
  renderJobs(state.runs, state.progress, () => loadRuns().then(refreshHeader), (runId) => columns.labelOf(runId));
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
      if (message.dataset_id === state.datasetId) { loadRuns(); refreshColumns(); }
    } else if (message.type === "dataset") {
      loadDatasets();
    } else if (message.type === "annotation") {
      if (message.dataset_id === state.datasetId) { pendingSeqs.add(message.seq); header = true; }
    }
  }
  if (pendingSeqs.size) scheduleRowRefresh();
  if (header) refreshHeader();
  showJobs();
}

const live = connectLive({
  lastId: null,
  onMessages: onLive,
  onState: (s) => {
    const conn = $("#conn");
    conn.textContent = s === "live" ? "● live" : "● reconnecting…";
    conn.className = `conn ${s}`;
    if (s === "live" && state.datasetId) { loadRuns(); refreshColumns(); }
  },
});

// ---- actions ----
async function runSelected() {
  if (!state.datasetId) return toast("Upload or pick a dataset first.", "error");
  if (!state.selected.length) return toast("Pick at least one model.", "error");
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
  if (shown.length < 2) return toast("Show at least two columns to compare.", "error");
  try {
    renderCompare(await api(`/api/compare?${new URLSearchParams({ dataset_id: state.datasetId, models: shown.join(",") })}`),
      columnLabels());
  } catch (error) { toast(error.message, "error"); }
}

function setFilter(filter) {
  state.filter = filter;
  renderCounts(state.view && state.view.counts);
  reload();
}

async function uploadFile(file) {
  const box = $("#upload-status");
  box.hidden = false;
  $("#upload-errors").replaceChildren();
  $("#upload-bar").style.width = "0";
  $("#upload-text").textContent = `Uploading ${file.name}…`;
  try {
    const info = await upload(file, (fraction) => {
      $("#upload-bar").style.width = `${Math.round(fraction * 100)}%`;
      if (fraction >= 1) $("#upload-text").textContent = `Importing ${file.name}…`;
    });
    $("#upload-text").textContent = `Imported ${info.record_count.toLocaleString()} records as “${info.name}”.`;
    await loadDatasets();
    await selectDataset(info.id);
  } catch (error) {
    $("#upload-text").textContent = `Nothing imported: ${file.name}`;
    const problems = (error.body && error.body.problems) || [error.message];
    $("#upload-errors").replaceChildren(...problems.map((p) => el("li", {}, p)),
      error.body && error.body.more ? el("li", {}, `… and ${error.body.more} more`) : null);
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
    else if (e.key === "r") review.open();
    else if (e.key === "g" && row && first) curation.toggleGolden(row, first);
    else if (e.key === "w" && row && first) curation.judge(row, first, "wrong");
    else if (e.key === "e" && row && first) curation.edit(row, first, state.view.task);
    else if (e.key === "k") grid.move(-1);
    else if (e.key === "Enter" || e.key === "o") { const row = grid.current(); if (row) grid.onOpen(row); }
    else if (e.key === "Escape") $("#detail").hidden = true;
    else if (e.key === "/") { e.preventDefault(); $("#search").focus(); }
    else if (/^[1-5]$/.test(e.key)) {
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
  $("#open-review").addEventListener("click", () => review.open());
  $("#open-metrics").addEventListener("click", () => state.datasetId && openMetrics(state.datasetId, columns.ids(), columnLabels()));
  $("#metrics-close").addEventListener("click", () => $("#metrics-dialog").close());
  $("#edit-close").addEventListener("click", () => $("#edit-dialog").close());
  $("#diff-field").addEventListener("change", (e) => {
    state.diffField = e.target.value;
    if (state.diffField && state.filter !== "differences") state.filter = "differences";
    reload();
  });
  $("#sort").addEventListener("change", (e) => { state.sort = e.target.value; reload(); });
  $("#vf-field").addEventListener("change", () => fillVerdictValues(state.view && state.view.task));
  $("#vf-add").addEventListener("click", () => {
    const v = { model: $("#vf-model").value, field: $("#vf-field").value, value: $("#vf-value").value };
    if (!v.model || !v.field || !v.value) return;
    state.verdicts.push(v);
    reload();
  });
  for (const button of document.querySelectorAll("#filter-tabs button")) {
    button.addEventListener("click", () => setFilter(button.dataset.filter));
  }
  let searchTimer;
  $("#search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.q = e.target.value.trim(); reload(); }, 250);
  });
  $("#export").addEventListener("click", () => { $("#export-menu").hidden = !$("#export-menu").hidden; });
  for (const link of document.querySelectorAll("#export-menu a")) {
    link.addEventListener("click", (e) => {
      e.preventDefault();
      $("#export-menu").hidden = true;
      if (!state.datasetId) return;
      const params = new URLSearchParams({ dataset_id: state.datasetId });
      if (link.dataset.format) params.set("format", link.dataset.format);
      if (link.dataset.layout) params.set("layout", link.dataset.layout);
      const shown = columns.ids();
      if (shown.length) params.set("models", shown.join(","));
      download(withToken(`/api/exports/${encodeURIComponent(link.dataset.kind)}?${params}`));
    });
  }
}

// Downloads go through fetch first so a problem ("no golden examples yet") shows as a message.
async function download(url) {
  try {
    const response = await fetch(url);
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.detail || `export failed (${response.status})`);
    }
    const blob = await response.blob();
    const name = (response.headers.get("content-disposition") || "").match(/filename="?([^";]+)"?/);
    const link = el("a", { href: URL.createObjectURL(blob), download: name ? name[1] : "export" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) { toast(error.message, "error"); }
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

async function start() {
  setupUser();
  setupControls();
  setupUpload();
  setupKeys();
  const taskPicker = setupTaskPicker();
  try {
    await loadModels();
    await loadDatasets();
    await taskPicker;  // before a dataset is picked: it picks the dataset's last task
    const remembered = localStorage.getItem("workbench-dataset");
    const first = state.datasets.find((d) => d.id === remembered) || state.datasets[0];
    if (first) await selectDataset(first.id);
    else showEmpty({ results: [] });
  } catch (error) {
    toast(error.message, "error");
  }
}

start();
