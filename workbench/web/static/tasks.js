// Tasks in the page: the picker beside ▶ Run and the task editor (templates with the dataset's
// fields offered as you type, an output-schema builder with a raw JSON Schema and YAML view, a
// live preview of the messages for a record, Try on a few records, Save with the version list).
// Everything from data or models is inserted as text (dom.js el), never as HTML.
import { api, ApiError } from "./api.js";
import { $, el, toast } from "./dom.js";

const DEFAULT_TASK = "candidate-screening";
const PREVIEW_DELAY_MS = 250;
const KINDS = [["choice", "choice"], ["text", "text"], ["number", "number"], ["yes-no", "yes / no"]];

// ---- the output schema, as builder rows and back ----------------------------------------------

function rowSchema(row) {
  if (row.kind === "yes-no") return { type: "string", enum: ["yes", "no"] };
  if (row.kind === "choice") {
    const values = row.values.split(",").map((v) => v.trim()).filter(Boolean);
    return { type: "string", enum: [...new Set(values)] };
  }
  if (row.kind === "number") {
    const spec = { type: "number" };
    if (row.min !== "" && Number.isFinite(Number(row.min))) spec.minimum = Number(row.min);
    if (row.max !== "" && Number.isFinite(Number(row.max))) spec.maximum = Number(row.max);
    return spec;
  }
  const spec = { type: "string" };
  if (row.maxLength !== "" && Number.isInteger(Number(row.maxLength)) && Number(row.maxLength) > 0) {
    spec.maxLength = Number(row.maxLength);
  }
  return spec;
}

function schemaOf(rows) {
  const properties = {};
  for (const row of rows) if (row.name.trim()) properties[row.name.trim()] = rowSchema(row);
  return { type: "object", properties, required: Object.keys(properties), additionalProperties: false };
}

// Builder rows for a schema, or null when the builder can't show it (edit it as JSON then).
function rowsOf(schema, primary) {
  if (!schema || typeof schema !== "object" || schema.type !== "object") return null;
  if (Object.keys(schema).some((k) => !["type", "properties", "required", "additionalProperties", "title", "description"].includes(k))) return null;
  const rows = [];
  for (const [name, spec] of Object.entries(schema.properties || {})) {
    if (!spec || typeof spec !== "object") return null;
    const row = { name, kind: "text", values: "", maxLength: "", min: "", max: "", primary: name === primary };
    if (Array.isArray(spec.enum)) {
      if (!spec.enum.every((v) => typeof v === "string")) return null;
      if (spec.enum.length === 2 && spec.enum[0] === "yes" && spec.enum[1] === "no") row.kind = "yes-no";
      else { row.kind = "choice"; row.values = spec.enum.join(", "); }
    } else if (spec.type === "number" || spec.type === "integer") {
      row.kind = "number";
      row.min = spec.minimum ?? "";
      row.max = spec.maximum ?? "";
    } else if (spec.type === "string" || spec.type === undefined) {
      row.maxLength = spec.maxLength ?? "";
    } else return null;
    rows.push(row);
  }
  return rows;
}

// ---- the picker and the editor ------------------------------------------------------------------

export function setupTasks({ datasetId, record, models, onSaved = () => {} }) {
  const pick = $("#task-pick");
  const dialog = $("#task-dialog");
  let tasks = [];       // GET /api/tasks: the latest version of each
  let starters = [];    // GET /api/task-starters
  let chosen = DEFAULT_TASK;

  const select = el("select", { id: "task-select", "aria-label": "Task", title: "The task the models are asked" });
  const fit = el("span", { class: "task-fit", id: "task-fit", role: "status" });
  select.addEventListener("change", () => { chosen = select.value; checkFit(); });
  pick.replaceChildren(
    el("label", { class: "task-pick-label", for: "task-select" }, "Task"), select,
    el("button", { type: "button", id: "task-edit", title: "Edit this task (saving makes a new version)", onclick: () => openEditor(chosen) }, "Edit…"),
    el("button", { type: "button", id: "task-new", title: "Write a new task from a starting point", onclick: () => openEditor(null) }, "New task…"),
    fit,
  );

  // Before any run: does the chosen task fit the dataset's records? (A run asks to confirm if not.)
  let fitSeq = 0;
  async function checkFit() {
    const task = taskOf(chosen);
    const dataset = datasetId();
    const seq = ++fitSeq;
    fit.textContent = "";
    fit.removeAttribute("title");
    if (!task || !dataset) return;
    try {
      const { missing_fields: missing } = await api("/api/tasks/preview", { method: "POST", json: { task, dataset_id: dataset } });
      if (seq !== fitSeq || !missing.length) return;
      fit.textContent = `⚠ ${missing.length} field${missing.length === 1 ? "" : "s"} missing`;
      fit.title = `The records of this dataset lack fields this task uses: ${missing.join(", ")}`;
    } catch { /* the run says so */ }
  }

  function taskOf(name) { return tasks.find((t) => t.name === name) || null; }

  function renderPicker() {
    if (!taskOf(chosen) && tasks.length) chosen = taskOf(DEFAULT_TASK) ? DEFAULT_TASK : tasks[0].name;
    select.replaceChildren(...tasks.map((t) => el("option", { value: t.name }, `${t.name} v${t.version}`)));
    select.value = chosen;
  }

  async function loadTasks() {
    tasks = await api("/api/tasks");
    renderPicker();
  }

  const ready = Promise.all([
    loadTasks(),
    api("/api/task-starters").then((s) => { starters = s; }),
  ]).catch((error) => toast(`tasks: ${error.message}`, "error"));

  // ---- the editor dialog ----
  const form = {};
  let rows = [];
  let customSchema = null;  // a schema the builder can't show, kept as typed in the JSON view
  let previewSeq = 0;
  let previewTimer = null;
  let fields = [];

  const message = el("p", { class: "task-message", role: "status", "aria-live": "polite" });
  const say = (text, kind = "") => { message.textContent = text; message.className = `task-message ${kind}`; };

  form.name = el("input", { id: "task-name", name: "name", required: true, pattern: "[A-Za-z0-9_-]+", autocomplete: "off",
    placeholder: "e.g. review-sentiment" });
  form.starter = el("select", { id: "task-starter", name: "starter" });
  form.description = el("input", { id: "task-description", name: "description", autocomplete: "off" });
  form.system = el("textarea", { id: "task-system", name: "system", rows: 7, spellcheck: "false", class: "template" });
  form.user = el("textarea", { id: "task-user", name: "user", rows: 9, spellcheck: "false", class: "template" });
  form.schemaJson = el("textarea", { id: "task-schema-json", rows: 10, spellcheck: "false", class: "template", "aria-label": "JSON Schema of the answer" });
  const schemaNote = el("p", { class: "hint", id: "task-schema-note" });
  const fieldRows = el("tbody", { id: "task-fields" });
  const chips = el("div", { class: "field-chips", id: "task-field-chips", role: "group", "aria-label": "Dataset fields: insert into the user template" });
  const suggest = el("ul", { class: "field-suggest", id: "task-suggest", role: "listbox", hidden: true, "aria-label": "Fields" });
  const yamlView = el("pre", { class: "task-yaml", id: "task-yaml", tabindex: "0" });
  const previewRecord = el("input", { id: "task-preview-record", placeholder: "first record", autocomplete: "off" });
  const previewBox = el("div", { class: "task-preview", id: "task-preview", "aria-live": "polite" });
  const problemsBox = el("ul", { class: "task-problems", id: "task-problems" });
  const tryModel = el("select", { id: "task-try-model" });
  const tryCount = el("select", { id: "task-try-count" }, ...[3, 4, 5].map((n) => el("option", { value: n }, String(n))));
  const tryButton = el("button", { type: "button", id: "task-try", dataset: { needs: "admin" }, onclick: () => tryDraft() }, "Try");
  const tryBox = el("ol", { class: "task-try-results", id: "task-try-results" });
  const saveButton = el("button", { type: "button", class: "primary", id: "task-save", dataset: { needs: "admin" }, onclick: () => save() }, "Save");
  const versionsBox = el("ol", { class: "task-versions", id: "task-versions" });

  function labelled(text, control, hint) {
    return el("label", { class: "task-field", for: control.id }, el("span", {}, text), control, hint ? el("span", { class: "hint" }, hint) : null);
  }

  dialog.replaceChildren(
    el("div", { class: "dialog-head" },
      el("h2", { id: "task-dialog-title" }, "Task editor"),
      el("button", { type: "button", "aria-label": "Close", onclick: () => dialog.close() }, "✕")),
    el("div", { class: "task-editor" },
      el("div", { class: "task-left" },
        el("div", { class: "task-row" }, labelled("Name", form.name), labelled("Start from", form.starter)),
        labelled("Description", form.description),
        labelled("System template", form.system, "the same for every record; {{ schema_json }} is the output schema"),
        el("div", { class: "template-wrap" }, labelled("User template", form.user, "Jinja2 over the record: type {{ to pick a field"), suggest),
        el("div", { class: "chips-line" }, el("span", { class: "hint" }, "Fields:"), chips),
        el("h3", {}, "Output"),
        el("table", { class: "schema-builder" },
          el("thead", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "kind"), el("th", {}, "values / limits"),
            el("th", {}, "primary verdict"), el("th", {}, el("span", { class: "sr-only" }, "remove")))),
          fieldRows),
        el("button", { type: "button", id: "task-add-field", onclick: () => { rows.push({ name: "", kind: "choice", values: "", maxLength: "", min: "", max: "", primary: false }); renderRows(); changed("builder"); fieldRows.lastChild?.querySelector("input")?.focus(); } }, "+ Add field"),
        schemaNote,
        el("details", { class: "task-raw" }, el("summary", {}, "JSON Schema (editable)"), form.schemaJson),
        el("details", { class: "task-raw" }, el("summary", {}, "YAML"), yamlView)),
      el("div", { class: "task-right" },
        el("h3", {}, "Preview"),
        labelled("Record id", previewRecord),
        problemsBox,
        previewBox,
        el("h3", {}, "Try"),
        el("div", { class: "task-row" }, labelled("Model", tryModel), labelled("Records", tryCount), tryButton),
        tryBox,
        el("div", { class: "task-row save-row" }, saveButton, message),
        el("h3", {}, "Versions"),
        versionsBox)),
  );

  // ---- drafts ----
  function draft() {
    const primary = rows.find((r) => r.primary && (r.kind === "choice" || r.kind === "yes-no"));
    const schema = customSchema || schemaOf(rows);
    return { name: form.name.value.trim(), description: form.description.value, system: form.system.value,
      user: form.user.value, output_schema: schema, primary_verdict: customSchema ? (form.primaryCustom || null) : (primary ? primary.name.trim() : null) };
  }

  function load(task) {
    form.name.value = task.name || "";
    form.description.value = task.description || "";
    form.system.value = task.system || "";
    form.user.value = task.user || "";
    setSchema(task.output_schema, task.primary_verdict);
  }

  function setSchema(schema, primary) {
    const built = rowsOf(schema, primary);
    customSchema = built ? null : schema;
    form.primaryCustom = primary || null;
    rows = built || [];
    renderRows();
    form.schemaJson.value = JSON.stringify(schema, null, 2);
    schemaNote.textContent = built ? "" : "This schema has parts the builder can't show: edit it as JSON.";
  }

  function renderRows() {
    fieldRows.replaceChildren(...rows.map((row, i) => {
      const update = (key) => (e) => { row[key] = e.target.type === "radio" ? e.target.checked : e.target.value; if (key === "primary") rows.forEach((r) => { r.primary = r === row; }); if (key === "kind") { renderRows(); fieldRows.children[i]?.querySelector("select")?.focus(); } changed("builder"); };
      const name = el("input", { value: row.name, "aria-label": `field ${i + 1} name`, placeholder: "name", oninput: update("name"), class: "field-name" });
      const kind = el("select", { "aria-label": `field ${i + 1} kind`, onchange: update("kind") },
        ...KINDS.map(([value, text]) => el("option", { value, selected: row.kind === value }, text)));
      let details;
      if (row.kind === "choice") details = el("input", { value: row.values, "aria-label": `field ${i + 1} values, comma-separated`, placeholder: "values, comma-separated", oninput: update("values") });
      else if (row.kind === "text") details = el("input", { type: "number", min: 1, value: row.maxLength, "aria-label": `field ${i + 1} max length`, placeholder: "max length", oninput: update("maxLength") });
      else if (row.kind === "number") details = el("span", { class: "range" },
        el("input", { type: "number", value: row.min, "aria-label": `field ${i + 1} minimum`, placeholder: "min", oninput: update("min") }),
        el("input", { type: "number", value: row.max, "aria-label": `field ${i + 1} maximum`, placeholder: "max", oninput: update("max") }));
      else details = el("span", { class: "hint" }, "yes or no");
      const verdict = row.kind === "choice" || row.kind === "yes-no";
      const primary = verdict ? el("input", { type: "radio", name: "task-primary", checked: row.primary, "aria-label": `field ${i + 1} is the primary verdict`, onchange: update("primary") }) : el("span", { class: "hint" }, "–");
      const remove = el("button", { type: "button", "aria-label": `remove field ${i + 1}`, onclick: () => { rows.splice(i, 1); renderRows(); changed("builder"); } }, "✕");
      return el("tr", {}, el("td", {}, name), el("td", {}, kind), el("td", {}, details), el("td", { class: "center" }, primary), el("td", {}, remove));
    }));
  }

  function changed(source) {
    if (source === "builder") {
      customSchema = null;
      form.schemaJson.value = JSON.stringify(schemaOf(rows), null, 2);
      schemaNote.textContent = "";
    }
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, PREVIEW_DELAY_MS);
  }

  form.schemaJson.addEventListener("input", () => {
    let schema;
    try { schema = JSON.parse(form.schemaJson.value); } catch (error) {
      schemaNote.textContent = `JSON Schema: ${error.message}`;
      return;
    }
    const current = rows.find((r) => r.primary);
    const built = rowsOf(schema, current ? current.name : null);
    customSchema = built ? null : schema;
    if (built) { rows = built; renderRows(); }
    schemaNote.textContent = built ? "" : "This schema has parts the builder can't show: edit it as JSON.";
    changed("json");
  });
  for (const input of [form.name, form.description, form.system, form.user]) input.addEventListener("input", () => changed("text"));
  previewRecord.addEventListener("change", () => changed("record"));
  form.starter.addEventListener("change", () => {
    const starter = starters.find((s) => s.id === form.starter.value);
    if (!starter) return;
    const name = form.name.value.trim();
    load({ ...starter.task, name: name || starter.task.name });
    changed("starter");
  });

  // ---- the dataset's fields: chips and suggestions as you type (in the user template: the
  // system prompt is the same for every record and never sees one) ----

  function insertAtCursor(area, text, replaceBefore = 0) {
    const start = area.selectionStart - replaceBefore;
    const end = area.selectionEnd;
    area.setRangeText(text, Math.max(0, start), end, "end");
    area.focus();
    area.dispatchEvent(new Event("input"));
  }

  function renderChips() {
    chips.replaceChildren(...fields.map((f) => el("button", { type: "button", class: "chip", title: `insert {{ ${f} }}`,
      onclick: () => insertAtCursor(form.user, isIdentifier(f) ? `{{ ${f} }}` : `{{ record[${JSON.stringify(f)}] }}`) }, f)));
    if (!fields.length) chips.append(el("span", { class: "hint" }, "(pick a dataset)"));
  }

  const isIdentifier = (name) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
  let suggestions = [];
  let suggestIndex = 0;
  let suggestTyped = "";

  function updateSuggest() {
    const area = form.user;
    const before = area.value.slice(0, area.selectionStart);
    const match = before.match(/\{\{\s*([A-Za-z0-9_]*)$/);
    if (!match || area.selectionStart !== area.selectionEnd) { closeSuggest(); return; }
    suggestTyped = match[1];
    suggestions = fields.filter((f) => isIdentifier(f) && f.toLowerCase().startsWith(suggestTyped.toLowerCase()));
    if (!suggestions.length) { closeSuggest(); return; }
    suggestIndex = Math.min(suggestIndex, suggestions.length - 1);
    suggest.replaceChildren(...suggestions.map((f, i) => el("li", { role: "option", id: `task-suggest-${i}`, "aria-selected": String(i === suggestIndex),
      onmousedown: (e) => { e.preventDefault(); choose(i); } }, f)));
    suggest.hidden = false;
    area.setAttribute("aria-activedescendant", `task-suggest-${suggestIndex}`);
  }

  function closeSuggest() { suggest.hidden = true; suggestions = []; suggestIndex = 0; form.user.removeAttribute("aria-activedescendant"); }

  function choose(i) {
    const field = suggestions[i];
    if (!field) return;
    const after = form.user.value.slice(form.user.selectionEnd);
    const closing = /^\s*\}\}/.test(after) ? "" : " }}";
    closeSuggest();
    insertAtCursor(form.user, `${field}${closing}`, suggestTyped.length);
  }

  form.user.setAttribute("aria-controls", "task-suggest");
  form.user.addEventListener("input", updateSuggest);
  form.user.addEventListener("click", updateSuggest);
  form.user.addEventListener("blur", () => setTimeout(closeSuggest, 100));
  form.user.addEventListener("keydown", (e) => {
    if (suggest.hidden) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      suggestIndex = (suggestIndex + (e.key === "ArrowDown" ? 1 : suggestions.length - 1)) % suggestions.length;
      updateSuggest();
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      choose(suggestIndex);
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();  // closes the list, not the dialog
      closeSuggest();
    }
  });

  // ---- preview ----
  function recordId() {
    const typed = previewRecord.value.trim();
    if (typed) return typed;
    const row = record();
    return row ? (row.record_id ?? row.candidate_id ?? null) : null;
  }

  async function refreshPreview() {
    const dataset = datasetId();
    if (!dataset) { previewBox.replaceChildren(el("p", { class: "hint" }, "Pick a dataset to preview the messages.")); return; }
    const seq = ++previewSeq;
    let shown;
    try {
      const body = draft();
      body.name = body.name || "draft";  // a new task's name is asked for on Save, not while typing
      shown = await api("/api/tasks/preview", { method: "POST", json: { task: body, dataset_id: dataset, record_id: recordId() } });
    } catch (error) {
      if (seq !== previewSeq) return;
      if (error instanceof ApiError && error.status === 404 && previewRecord.value.trim()) {
        problemsBox.replaceChildren(el("li", { class: "problem" }, error.message));
        return;
      }
      problemsBox.replaceChildren(el("li", { class: "problem" }, `preview: ${error.message}`));
      return;
    }
    if (seq !== previewSeq) return;  // an older answer arriving after a newer one
    fields = shown.dataset_fields;
    renderChips();
    yamlView.textContent = shown.yaml;
    previewRecord.placeholder = shown.record_id ? `first record (${shown.record_id})` : "first record";
    const problems = shown.problems.map((p) => el("li", { class: "problem" }, `${p.where}${p.line ? `, line ${p.line}` : ""}: ${p.message}`));
    if (shown.missing_fields.length) {
      problems.push(el("li", { class: "problem missing" }, `Fields this dataset lacks: ${shown.missing_fields.join(", ")} — a run asks you to confirm.`));
    } else if (shown.absent_fields.length) {
      problems.push(el("li", { class: "note" }, `Optional fields this dataset lacks: ${shown.absent_fields.join(", ")}.`));
    }
    problemsBox.replaceChildren(...problems);
    previewBox.replaceChildren(...shown.messages.map((m) => el("div", { class: `message-${m.role}` },
      el("div", { class: "role" }, m.role), el("pre", { tabindex: "0", "aria-label": `${m.role} message` }, m.content))));
    if (!shown.messages.length && !shown.problems.length) previewBox.append(el("p", { class: "hint" }, "The dataset has no records."));
  }

  // ---- try ----
  function renderTryModels() {
    const list = models() || [];
    const keep = tryModel.value;
    tryModel.replaceChildren(...list.map((m) => el("option", { value: m.id }, m.name || m.id)));
    if (list.some((m) => m.id === keep)) tryModel.value = keep;
  }

  async function tryDraft() {
    const dataset = datasetId();
    if (!dataset) return say("Pick a dataset first.", "error");
    if (!tryModel.value) return say("Add a model first (Models).", "error");
    tryButton.disabled = true;
    tryBox.replaceChildren(el("li", { class: "hint" }, "asking the model…"));
    try {
      const answers = await api("/api/tasks/try", { method: "POST", json: { task: draft(), dataset_id: dataset, model_id: tryModel.value, count: Number(tryCount.value) } });
      tryBox.replaceChildren(...answers.map((a) => el("li", { class: a.error ? "try-error" : "try-ok" },
        el("div", { class: "try-head" }, el("strong", {}, a.record_id),
          a.latency_ms != null ? el("span", { class: "hint" }, ` ${Math.round(a.latency_ms)} ms · ${a.tokens_in} → ${a.tokens_out} tokens${a.finish_reason ? ` · ${a.finish_reason}` : ""}`) : null),
        a.error ? el("div", { class: "error" }, `${a.error.kind}: ${a.error.message}`) : null,
        a.output ? el("pre", { class: "try-output", tabindex: "0" }, JSON.stringify(a.output, null, 2)) : null,
        a.error && a.raw_text ? el("details", {}, el("summary", {}, "raw answer"), el("pre", { tabindex: "0" }, a.raw_text)) : null)));
      say("");
    } catch (error) {
      tryBox.replaceChildren(el("li", { class: "try-error" }, error.message));
    } finally { tryButton.disabled = false; }
  }

  // ---- save and versions ----
  async function showVersions(name) {
    if (!name || !taskOf(name)) { versionsBox.replaceChildren(el("li", { class: "hint" }, "not saved yet")); return; }
    try {
      const versions = await api(`/api/tasks/${encodeURIComponent(name)}/versions`);
      versionsBox.replaceChildren(...versions.map((v) => el("li", { class: "version" },
        el("span", { class: "version-number" }, `v${v.version}`), " ",
        el("span", { class: "hint" }, v.created_at.replace("T", " ").slice(0, 16)), " ",
        el("span", { class: "version-changes" }, v.changes.join("; ")), " ",
        el("button", { type: "button", class: "version-open", "aria-label": `open v${v.version} in the editor`,
          title: "Load this version into the editor (saving it makes a new version)", onclick: () => openVersion(name, v.version) }, "open"),
        v.diff ? el("details", {}, el("summary", {}, "diff"), el("pre", { class: "task-diff", tabindex: "0" }, v.diff)) : null)));
    } catch (error) { versionsBox.replaceChildren(el("li", { class: "problem" }, error.message)); }
  }

  async function openVersion(name, version) {
    try {
      load(await api(`/api/tasks/${encodeURIComponent(name)}?${new URLSearchParams({ version })}`));
      say(`Loaded v${version}: Save makes it the newest version.`);
      changed("version");
    } catch (error) { say(error.message, "error"); }
  }

  async function save() {
    const body = draft();
    if (!body.name) { form.name.focus(); return say("Give the task a name.", "error"); }
    saveButton.disabled = true;
    try {
      const saved = await api("/api/tasks", { method: "POST", json: body });
      await loadTasks();
      chosen = saved.name;
      renderPicker();
      checkFit();
      say(`Saved ${saved.name} v${saved.version}.`, "ok");
      await showVersions(saved.name);
      onSaved(saved);
    } catch (error) { say(error.message, "error"); } finally { saveButton.disabled = false; }
  }

  async function openEditor(name) {
    await ready;
    form.starter.replaceChildren(el("option", { value: "" }, name ? "(keep this task)" : "(pick one)"),
      ...starters.map((s) => el("option", { value: s.id, title: s.description }, s.title)));
    say("");
    tryBox.replaceChildren();
    previewRecord.value = "";
    renderTryModels();
    renderChips();
    if (name) {
      $("#task-dialog-title").textContent = `Edit task ${name}`;
      try { load(await api(`/api/tasks/${encodeURIComponent(name)}`)); } catch (error) { toast(error.message, "error"); return; }
    } else {
      $("#task-dialog-title").textContent = "New task";
      const first = starters.find((s) => s.id === "classification") || starters[0];
      load({ ...first.task, name: "" });
      form.starter.value = first.id;
    }
    if (!dialog.open) dialog.showModal();
    await showVersions(name);
    refreshPreview();
    (name ? form.user : form.name).focus();
  }

  // ---- what app.js calls ----
  return {
    current() {
      const task = taskOf(chosen);
      return { name: chosen, version: task ? task.version : null };
    },
    async onDataset(id) {
      await ready;
      let last = null;
      try {
        const runs = await api(`/api/runs?${new URLSearchParams({ dataset_id: id })}`);
        for (const run of runs) if (!last || run.id > last.id) last = run;  // the newest run's task
      } catch { /* the default then */ }
      chosen = last && taskOf(last.task_name) ? last.task_name : (taskOf(DEFAULT_TASK) ? DEFAULT_TASK : (tasks[0] || {}).name || DEFAULT_TASK);
      renderPicker();
      checkFit();
      if (dialog.open) refreshPreview();
    },
    async startRuns(body) {
      const task = this.current();
      const request = { ...body, task: task.name, task_version: task.version };
      try {
        return await api("/api/runs", { method: "POST", json: request });
      } catch (error) {
        const missing = error instanceof ApiError && error.status === 422 && error.body && error.body.missing_fields;
        if (!missing) throw error;
        const ok = confirm(`Task ${task.name} uses fields this dataset's records lack: ${missing.join(", ")}.\n\nRun it anyway?`);
        if (!ok) return null;
        return api("/api/runs", { method: "POST", json: { ...request, allow_missing_fields: true } });
      }
    },
    open: openEditor,
    refresh: loadTasks,
  };
}
