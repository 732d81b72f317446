// Model management on the page: list, add/edit, delete, test connection. Keys never appear here.
// Which providers exist and which fields each one's form shows come from GET /api/providers.
import { api } from "./api.js";
import { $, el } from "./dom.js";
import { returnFocusOnClose } from "./panels.js";

const ID_LOCKED = "The id can't change: results refer to it.";

export function setupModelsDialog({ onChange }) {
  const dialog = $("#models-dialog");
  const form = $("#model-form");
  const message = $("#model-message");
  const output = $("#model-test-output");
  let editing = null;
  let original = null; // the model as the server has it: fields the form doesn't show are kept
  let providers = []; // GET /api/providers, read when the dialog first opens

  const chosen = () => providers.find((p) => p.name === form.elements.provider.value) || providers[0] || null;
  const shows = (field) => { const p = chosen(); return !!p && p.form_fields.includes(field); };

  async function loadProviders() {
    if (providers.length) return;
    providers = await api("/api/providers");
    form.elements.provider.replaceChildren(...providers.map((p) =>
      el("option", { value: p.name }, p.label ? `${p.name} (${p.label})` : p.name)));
  }

  // The labels of the chosen provider's fields show; the structured-output choices are its forms.
  function showProviderFields(structuredOutput = "auto") {
    const provider = chosen();
    for (const label of form.querySelectorAll("label[data-field]")) label.hidden = !shows(label.dataset.field);
    const forms = ["auto", ...(provider ? provider.structured_modes : [])];
    form.elements.structured_output.replaceChildren(...forms.map((mode) => el("option", { value: mode }, mode)));
    form.elements.structured_output.value = forms.includes(structuredOutput) ? structuredOutput : "auto";
    form.elements.model.placeholder = provider && provider.default_model ? `default: ${provider.default_model}` : "e.g. google/gemma-3-4b-it";
  }

  // What a run of it costs (per 1M tokens in / out), when it has prices: the cost of runs and traces.
  const price = (m) => (m.price_in || m.price_out ? ` · $${m.price_in} / $${m.price_out} per 1M tokens` : "");

  function say(text, kind = "") { message.textContent = text; message.className = `message ${kind}`; }

  async function refresh() {
    const models = await api("/api/models");
    $("#models-list").replaceChildren(...models.map((m) => el("li", {},
      el("span", {}, el("strong", {}, m.name), " ", el("span", { class: "desc" },
        `${m.id} · ${m.provider}${m.base_url ? ` · ${m.base_url}` : ""}${m.replicas && m.replicas.length ? ` (+${m.replicas.length} replicas)` : ""}${m.model ? ` · ${m.model}` : ""}${m.api_key_env ? ` · key from $${m.api_key_env}` : ""} · ${m.structured_output}${price(m)}`)),
      el("span", {},
        el("button", { type: "button", "aria-label": `Edit ${m.name}`, dataset: { needs: "admin" }, onclick: () => edit(m) }, "Edit"), " ",
        el("button", { type: "button", "aria-label": `Delete ${m.name}`, dataset: { needs: "admin" }, onclick: () => remove(m) }, "Delete")))));
    if (editing) original = models.find((m) => m.id === editing) || original; // e.g. the form a probe found
    return models;
  }

  // One place says whether the form adds a model or edits one: heading, and the Id locked with its reason.
  function setMode(id) {
    editing = id;
    const input = form.elements.id;
    $("#model-form-title").textContent = id ? `Edit ${id}` : "Add a model";
    input.readOnly = !!id;
    if (id) {
      input.title = ID_LOCKED;
      input.setAttribute("aria-describedby", "model-id-hint");
    } else {
      input.removeAttribute("title");
      input.removeAttribute("aria-describedby");
    }
    idHint().hidden = !id;
  }

  function idHint() {
    let hint = $("#model-id-hint");
    if (!hint) {
      // Under the field, in its label's box; aria-hidden keeps it out of the label's name ("Id"), the
      // input's aria-describedby still reads it.
      hint = el("span", { id: "model-id-hint", class: "id-hint", "aria-hidden": "true" }, ID_LOCKED);
      form.elements.id.after(hint);
    }
    return hint;
  }

  function edit(model) {
    original = model;
    setMode(model ? model.id : null);
    form.elements.id.value = model ? model.id : "";
    for (const name of ["name", "base_url", "model", "api_key_env"]) form.elements[name].value = (model && model[name]) || "";
    form.elements.replicas.value = model ? (model.replicas || []).join(", ") : "";
    // A new model is most often a server (the embedded model and the baseline come configured).
    const fresh = providers.find((p) => p.needs_base_url) || providers[0] || {};
    form.elements.provider.value = model ? model.provider : fresh.name || "";
    form.elements.max_concurrency.value = model ? model.max_concurrency : 4;
    form.elements.temperature.value = model ? model.params.temperature : 0;
    form.elements.max_tokens.value = model ? model.params.max_tokens : 512;
    form.elements.max_response_bytes.value = model ? model.max_response_bytes : "";
    form.elements.price_in.value = model ? model.price_in : 0;
    form.elements.price_out.value = model ? model.price_out : 0;
    showProviderFields(model ? model.structured_output : "auto");
    output.hidden = true;
    say("");
  }

  async function remove(model) {
    if (!confirm(`Delete model ${model.id}? Its results stay.`)) return;
    await api(`/api/models/${encodeURIComponent(model.id)}`, { method: "DELETE" });
    if (editing === model.id) edit(null); // the form no longer edits anything: back to a new model
    await refresh();
    onChange();
  }

  function body() {
    const f = form.elements;
    const kept = original || {};
    const data = {
      ...kept,
      id: f.id.value.trim(), name: f.name.value.trim() || f.id.value.trim(), provider: f.provider.value,
      base_url: f.base_url.value.trim() || null,
      replicas: f.replicas.value.split(",").map((u) => u.trim()).filter(Boolean),
      model: f.model.value.trim() || (chosen() || {}).default_model || null,
      api_key_env: f.api_key_env.value.trim() || null, max_concurrency: Number(f.max_concurrency.value) || 4,
      params: { ...(kept.params || {}), temperature: Number(f.temperature.value) || 0, max_tokens: Number(f.max_tokens.value) || 512 },
    };
    // empty: the server's default
    if (f.max_response_bytes.value.trim()) data.max_response_bytes = Number(f.max_response_bytes.value);
    else delete data.max_response_bytes;
    if (shows("structured_output")) data.structured_output = f.structured_output.value;
    if (shows("price_in")) data.price_in = Number(f.price_in.value) || 0;
    if (shows("price_out")) data.price_out = Number(f.price_out.value) || 0;
    return data;
  }

  async function save() {
    const data = body();
    const path = editing ? `/api/models/${encodeURIComponent(editing)}` : "/api/models";
    await api(path, { method: editing ? "PUT" : "POST", json: data });
    setMode(data.id);
    await refresh();
    onChange();
    return data.id;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await save(); say("Saved.", "ok"); } catch (error) { say(error.message, "error"); }
  });
  $("#model-test").addEventListener("click", async () => {
    try {
      const id = await save();
      say("Testing… (one sample record)");
      output.hidden = true;
      const result = await api(`/api/models/${encodeURIComponent(id)}/test`, { method: "POST" });
      if (result.ok) say(`OK in ${Math.round(result.latency_ms)} ms · structured output: ${result.structured_output}`, "ok");
      else say(`Failed: ${result.error}`, "error");
      output.textContent = [
        ...result.attempts.map((a) => `${a.mode}: ${a.ok ? "ok" : "no"}${a.problem ? ` (${a.problem})` : ""}`),
        "", result.output ? JSON.stringify(result.output, null, 2) : result.raw_text,
      ].join("\n");
      output.hidden = false;
      await refresh();
    } catch (error) { say(error.message, "error"); }
  });
  $("#model-new").addEventListener("click", () => edit(null));
  form.elements.provider.addEventListener("change", () => showProviderFields(form.elements.structured_output.value));
  $("#models-close").addEventListener("click", () => dialog.close());
  dialog.setAttribute("aria-labelledby", "models-title");
  const heading = dialog.querySelector("h2");
  if (heading && !heading.id) heading.id = "models-title";
  return {
    async open(model = null) {
      returnFocusOnClose(dialog);
      await loadProviders(); edit(model); await refresh();
      if (!dialog.open) dialog.showModal();
    },
  };
}
