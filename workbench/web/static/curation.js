// Annotating: golden / good / wrong / fix on an answer, preference and note on a record, undo.
// Changes show at once (optimistic) and are confirmed by the server; other pages hear of them live.
import { refuse, session } from "./accounts.js";
import { api } from "./api.js";
import { $, el, toast } from "./dom.js";

// The name on annotations: with accounts on, the signed-in user's (the server uses it whatever is sent).
export function author() {
  if (session.accounts && session.user) return session.user.name;
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

  // A column's answer is annotated as the answer of its run (record × run), so a mark made on one
  // run's answer never shows on another run of the same model.
  function answerOf(row, column) {
    const cell = row.models[column.id];
    const runId = (cell && cell.run_id) ?? column.run_id;
    return { model_id: column.model_id || column.id, ...(runId === null || runId === undefined ? {} : { run_id: runId }) };
  }

  function send(row, column, field, value) {
    return inOrder(() => post(row, column ? answerOf(row, column) : { model_id: "" }, field, value));
  }

  async function post(row, target, field, value) {
    try {
      const event = await api("/api/annotations", { method: "POST", json: {
        dataset_id: ctx.datasetId(), record_id: row.record_id, ...target, field, value, author: author() } });
      return event;
    } catch (error) {
      toast(error.message, "error");
      ctx.refreshRows([row.seq]);  // put back what the server has
      return null;
    }
  }

  // Optimistic: the cell of this column changes at once, keyed by the column id.
  async function setAnswer(row, column, field, value) {
    if (refuse("annotator")) return;
    const cell = row.models[column.id];
    if (!cell) return toast("This column has no answer for this record yet.", "error");
    cell[CELL_FIELD[field]] = value;
    ctx.rowChanged(row);
    const event = await send(row, column, field, value);
    if (event) ctx.refreshRows([row.seq]);
  }

  async function toggleGolden(row, column) {
    const cell = row.models[column.id];
    return setAnswer(row, column, "golden", !(cell && cell.is_golden));
  }

  async function judge(row, column, judgement) {
    const cell = row.models[column.id];
    return setAnswer(row, column, "judgement", cell && cell.judgement === judgement ? null : judgement);
  }

  // Record-level: a preference's value is a column id (or tie / all_bad); a note is text.
  async function setRecord(row, field, value) {
    if (refuse("annotator")) return;
    row[field] = value;
    ctx.rowChanged(row);
    const event = await send(row, null, field, value);
    if (event) ctx.refreshRows([row.seq]);
  }

  function undo() {
    if (refuse("annotator")) return Promise.resolve();
    return inOrder(async () => {
      try {
        const event = await api("/api/annotations/undo", { method: "POST", json: { dataset_id: ctx.datasetId(), author: author() } });
        if (event.undoes_group) {  // a bulk action: every record of its group at once
          const kept = event.changed_since ? ` (${event.changed_since.toLocaleString()} changed since were kept)` : "";
          toast(`Undid ${event.field} on ${event.count.toLocaleString()} records${kept}.`);
          document.dispatchEvent(new CustomEvent("workbench:group-undone", { detail: event }));
          return;
        }
        toast(`Undid ${event.field} on ${event.record_id}.`);
        ctx.refreshRows([event.seq]);
      } catch (error) { toast(error.message, "error"); }
    });
  }

  function edit(row, column, task) {
    if (refuse("annotator")) return;
    const cell = row.models[column.id];
    if (!cell) return toast("This column has no answer for this record yet.", "error");
    const dialog = $("#edit-dialog");
    const schema = task.schema || {};
    const props = schema.properties || {};
    const current = cell.is_fixed || cell.status === "ok" ? cell : (cell.original || {});
    $("#edit-title").textContent = `Fix ${column.label || column.name || column.id}'s answer — ${row.title}`;
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
          dataset_id: ctx.datasetId(), record_id: row.record_id, ...answerOf(row, column), field: "correction", value,
          author: author() } }));
        dialog.close();
        ctx.refreshRows([row.seq]);
        toast("Fix saved.");
      } catch (error) {
        $("#edit-message").textContent = error.message;
        $("#edit-message").className = "message error";
      }
    };
    $("#edit-clear").onclick = async () => {
      await send(row, column, "correction", null);
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
