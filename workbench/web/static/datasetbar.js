// The current dataset's actions beside its name (#dataset-actions: rename inline, delete after a
// confirm naming it) and the upload's options (#upload-options: the id field).
import { api } from "./api.js";
import { $, el, toast } from "./dom.js";

// dataset: {id, name, record_count}; onRenamed(info) after a rename; onDeleted(id) after a delete.
export function renderDatasetActions(dataset, { onRenamed, onDeleted }) {
  const box = $("#dataset-actions");
  if (!dataset) { box.replaceChildren(); return; }
  const rename = el("button", { type: "button", id: "dataset-rename", dataset: { needs: "admin" }, title: `Rename “${dataset.name}”` }, "Rename");
  const remove = el("button", { type: "button", id: "dataset-delete", class: "danger", dataset: { needs: "admin" },
    title: `Delete “${dataset.name}” and everything run on it` }, "Delete");
  rename.addEventListener("click", () => startRename(dataset, onRenamed));
  remove.addEventListener("click", async () => {
    const count = dataset.record_count.toLocaleString();
    if (!confirm(`Delete the dataset “${dataset.name}” (${count} records) and all its runs and annotations?`)) return;
    try {
      await api(`/api/datasets/${encodeURIComponent(dataset.id)}`, { method: "DELETE" });
      toast(`Deleted “${dataset.name}”.`);
      await onDeleted(dataset.id);
    } catch (error) { toast(error.message, "error"); }
  });
  box.replaceChildren(rename, remove);
}

// The name turns into a text box: Enter saves, Esc (or leaving it) cancels.
function startRename(dataset, onRenamed) {
  const heading = $("#dataset-name");
  const box = $("#dataset-actions");
  const message = el("span", { class: "why", role: "status", "aria-live": "polite" });
  const input = el("input", { id: "dataset-rename-input", type: "text", maxlength: "200", "aria-label": "New name of the dataset",
    value: dataset.name, class: "rename-input" });
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    input.remove();
    message.remove();
    heading.hidden = false;
    box.hidden = false;
  };
  input.addEventListener("keydown", async (e) => {
    e.stopPropagation();  // the page's keys (j, k, 1–9) are letters in a name
    if (e.key === "Escape") { finish(); $("#dataset-rename").focus(); return; }
    if (e.key !== "Enter") return;
    e.preventDefault();
    const name = input.value.trim();
    if (!name) { message.textContent = "A name can't be blank."; return; }
    if (name === dataset.name) { finish(); return; }
    try {
      const info = await api(`/api/datasets/${encodeURIComponent(dataset.id)}`, { method: "PATCH", json: { name } });
      finish();
      await onRenamed(info);
      const again = $("#dataset-rename");
      if (again) again.focus();
    } catch (error) { message.textContent = error.message; }
  });
  input.addEventListener("blur", () => setTimeout(finish, 0));
  heading.hidden = true;
  box.hidden = true;
  heading.after(input, message);
  input.focus();
  input.select();
}

// The upload's id field: optional, sent as the multipart id_field.
export function setupUploadOptions() {
  const input = el("input", { id: "upload-id-field", type: "text", maxlength: "200", autocomplete: "off",
    placeholder: "id (default)", "aria-describedby": "upload-id-help" });
  $("#upload-options").replaceChildren(
    el("label", { for: "upload-id-field" }, "id field "), input,
    el("span", { id: "upload-id-help", class: "muted" }, "the field holding each record's unique id (optional)"));
  input.addEventListener("keydown", (e) => e.stopPropagation());
  return {
    idField: () => input.value.trim() || null,
    focus: () => { input.focus(); input.select(); },
  };
}

// A field to try as the id after a duplicate-id failure: among the first records (up to 4 MB of a JSONL
// file), a field other than the failing one whose values are all present and distinct, names like
// "…id" / "key" / "uuid" first. null when none is found (CSV and Parquet: not looked into).
export async function suggestIdField(file, failing) {
  if (!/\.(jsonl|ndjson|json)$/i.test(file.name)) return null;
  let records;
  try {
    const lines = (await file.slice(0, 4 << 20).text()).split(/\r?\n/).slice(0, file.size > 4 << 20 ? -1 : undefined).filter((l) => l.trim());
    records = lines.map((l) => JSON.parse(l));
  } catch { return null; }
  if (!records.length || records.some((r) => !r || typeof r !== "object" || Array.isArray(r))) return null;
  const unique = (field) => {
    const seen = new Set();
    for (const r of records) {
      const v = r[field];
      if (v === null || v === undefined || v === "" || typeof v === "object" || seen.has(String(v))) return false;
      seen.add(String(v));
    }
    return true;
  };
  const fields = Object.keys(records[0]).filter((f) => f !== failing && unique(f));
  const idLike = (f) => /(^|_|-)(id|key|uuid)$|id$/i.test(f);
  return fields.find(idLike) || fields[0] || null;
}
