// Annotating: golden / good / wrong / fix on an answer, preference and note on a record, undo.
// Changes show at once (optimistic) and are confirmed by the server; other pages hear of them live.
import { api } from "./api.js";
import { $, el, toast } from "./dom.js";

export function author() {
  return localStorage.getItem("workbench-user") || "local user";
}

export function setupUser() {
  const input = $("#user-name");
  input.value = author();
  input.addEventListener("change", () => localStorage.setItem("workbench-user", input.value.trim() || "local user"));
}

const CELL_FIELD = { golden: "is_golden", judgement: "judgement" };

// ctx: { datasetId(), refreshRows(seqs), rowChanged(row) }
export function createCuration(ctx) {
  // Changes reach the server one at a time, in the order made, so an undo pressed right after a
  // change undoes that change and not the one before it.
  let queue = Promise.resolve();
  const inOrder = (task) => {
    const result = queue.then(task, task);
    queue = result.catch(() => {});
    return result;
  };

  function send(row, modelId, field, value) {
    return inOrder(() => post(row, modelId, field, value));
  }

  async function post(row, modelId, field, value) {
    try {
      const event = await api("/api/annotations", { method: "POST", json: {
        dataset_id: ctx.datasetId(), record_id: row.record_id, model_id: modelId || "", field, value, author: author() } });
      return event;
    } catch (error) {
      toast(error.message, "error");
      ctx.refreshRows([row.seq]);  // put back what the server has
      return null;
    }
  }

  async function setAnswer(row, modelId, field, value) {
    const cell = row.models[modelId];
    if (!cell) return toast("This model has no answer for this record yet.", "error");
    cell[CELL_FIELD[field]] = value;
    ctx.rowChanged(row);
    const event = await send(row, modelId, field, value);
    if (event) ctx.refreshRows([row.seq]);
  }

  async function toggleGolden(row, modelId) {
    const cell = row.models[modelId];
    return setAnswer(row, modelId, "golden", !(cell && cell.is_golden));
  }

  async function judge(row, modelId, judgement) {
    const cell = row.models[modelId];
    return setAnswer(row, modelId, "judgement", cell && cell.judgement === judgement ? null : judgement);
  }

  async function setRecord(row, field, value) {
    row[field] = value;
    ctx.rowChanged(row);
    const event = await send(row, "", field, value);
    if (event) ctx.refreshRows([row.seq]);
  }

  function undo() {
    return inOrder(async () => {
      try {
        const event = await api("/api/annotations/undo", { method: "POST", json: { dataset_id: ctx.datasetId(), author: author() } });
        toast(`Undid ${event.field} on ${event.record_id}.`);
        ctx.refreshRows([event.seq]);
      } catch (error) { toast(error.message, "error"); }
    });
  }

  function edit(row, modelId, task) {
    const cell = row.models[modelId];
    if (!cell) return toast("This model has no answer for this record yet.", "error");
    const dialog = $("#edit-dialog");
    const schema = task.schema || {};
    const props = schema.properties || {};
    const current = cell.is_fixed || cell.status === "ok" ? cell : (cell.original || {});
    $("#edit-title").textContent = `Fix ${modelId}'s answer — ${row.title}`;
    $("#edit-original").textContent = JSON.stringify(cell.original || pick(cell, Object.keys(props)), null, 2);
    $("#edit-message").textContent = "";
    $("#edit-fields").replaceChildren(...Object.entries(props).map(([name, spec]) => fieldInput(name, spec, current[name])));
    const form = $("#edit-form");
    form.onsubmit = async (e) => {
      e.preventDefault();
      const value = {};
      for (const [name, spec] of Object.entries(props)) {
        const input = form.elements[`f-${name}`];
        const raw = spec.type === "boolean" ? input.checked : input.value;
        if (raw === "" && !(schema.required || []).includes(name)) continue;
        value[name] = spec.type === "integer" ? parseInt(raw, 10) : spec.type === "number" ? Number(raw) : raw;
      }
      try {
        await inOrder(() => api("/api/annotations", { method: "POST", json: {
          dataset_id: ctx.datasetId(), record_id: row.record_id, model_id: modelId, field: "correction", value, author: author() } }));
        dialog.close();
        ctx.refreshRows([row.seq]);
        toast("Fix saved.");
      } catch (error) {
        $("#edit-message").textContent = error.message;
        $("#edit-message").className = "message error";
      }
    };
    $("#edit-clear").onclick = async () => {
      await send(row, modelId, "correction", null);
      dialog.close();
      ctx.refreshRows([row.seq]);
    };
    dialog.showModal();
    const first = form.querySelector("select, textarea, input");
    if (first) first.focus();
  }

  return { toggleGolden, judge, setRecord, undo, edit };
}

function pick(object, keys) {
  return Object.fromEntries(keys.filter((k) => k in object).map((k) => [k, object[k]]));
}

function fieldInput(name, spec, value) {
  const id = `f-${name}`;
  let input;
  if (spec.enum) {
    input = el("select", { name: id }, ...spec.enum.map((option) => el("option", { value: option, selected: option === value }, option)));
  } else if (spec.type === "boolean") {
    input = el("input", { type: "checkbox", name: id, checked: !!value });
  } else if (spec.type === "number" || spec.type === "integer") {
    input = el("input", { type: "number", name: id, value: value ?? "", step: spec.type === "integer" ? "1" : "any" });
  } else {
    input = el("textarea", { name: id, maxlength: spec.maxLength });
    input.value = value ?? "";
  }
  return el("label", {}, `${name}${spec.maxLength ? ` (≤ ${spec.maxLength} chars)` : ""}`, input);
}
