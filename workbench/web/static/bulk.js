// Bulk actions (Bulk…): mark every record under the current filter at once, after a count and a
// confirmation; one undoable group in the log. Fills #bulk-dialog. Owned by the grid work (issue #16).
import { author } from "./curation.js";
import { api } from "./api.js";
import { $, el } from "./dom.js";
import { columnLabel } from "./grid.js";

const DRILL_KEYS = ["drill", "drill_column", "drill_columns", "drill_field", "drill_label", "drill_answer", "drill_agree"];

// The grid's query as the bulk endpoint's body: the same params, a list for the verdict filters.
export function bulkBody(params) {
  const body = {};
  for (const key of new Set(params.keys())) {
    if (key === "verdict") body.verdict = params.getAll(key);
    else if (key !== "limit" && key !== "cursor" && key !== "counts") body[key] = params.get(key);
  }
  return body;
}

// What the current view is, in words, for the confirmation.
export function describeView(params) {
  const parts = [`filter: ${params.get("filter") || "all"}`];
  if (params.get("diff_field")) parts.push(`differences on ${params.get("diff_field")}`);
  if (params.get("q")) parts.push(`search “${params.get("q")}”`);
  const verdicts = params.getAll("verdict");
  if (verdicts.length) parts.push(`${verdicts.length} verdict filter${verdicts.length > 1 ? "s" : ""}`);
  if (DRILL_KEYS.some((k) => params.get(k))) parts.push("a Metrics drill-down");
  return parts.join(" · ");
}

// The actions for the columns shown: reviewed (the record), golden / wrong for one column.
function actionChoices(columns) {
  const ran = columns.filter((c) => c.run_id !== null && c.run_id !== undefined);
  return [
    { value: "reviewed|", label: "Mark reviewed (the records)" },
    ...ran.map((c) => ({ value: `golden|${c.id}`, label: `Golden: ${columnLabel(c)}'s answers` })),
    ...ran.map((c) => ({ value: `wrong|${c.id}`, label: `Wrong: ${columnLabel(c)}'s answers` })),
  ];
}

export function setupBulk(ctx) {
  // ctx: { datasetId(), viewParams() -> URLSearchParams of the grid's current query (no cursor/limit),
  //        columns() -> [{id, label, run_id}], reload(), toast(msg, kind) }
  const dialog = $("#bulk-dialog");
  const opener = $("#bulk-open");
  if (!dialog || !opener) return;
  let asked = 0;  // the latest count asked for: an older answer arriving late is dropped

  const title = el("h2", { id: "bulk-title" }, "Mark every record in this view");
  const select = el("select", { id: "bulk-action", name: "bulk-action" });
  const label = el("label", { for: "bulk-action" }, "Action ");
  const count = el("p", { class: "bulk-count", role: "status", "aria-live": "polite" });
  const confirm = el("button", { type: "button", class: "primary", id: "bulk-confirm", disabled: true, dataset: { needs: "annotator" } }, "Confirm");
  const cancel = el("button", { type: "button", id: "bulk-cancel" }, "Cancel");
  dialog.replaceChildren(title, el("p", {}, label, select), count, el("div", { class: "bulk-buttons" }, confirm, cancel));

  const body = (confirmed) => {
    const [action, column] = select.value.split("|");
    return { ...bulkBody(ctx.viewParams()), dataset_id: ctx.datasetId(), action, ...(column ? { column } : {}),
             confirm: confirmed, author: author() };
  };

  async function recount() {
    const mine = ++asked;
    confirm.disabled = true;
    count.textContent = "Counting…";
    try {
      const answer = await api("/api/annotations/bulk", { method: "POST", json: body(false) });
      if (mine !== asked) return;
      const skipped = answer.skipped ? ` (${answer.skipped.toLocaleString()} skipped: that column has no answer to mark there)` : "";
      count.textContent = `This will mark ${answer.marked.toLocaleString()} of ${answer.count.toLocaleString()} records (the current view: ${describeView(ctx.viewParams())})${skipped}.`;
      confirm.disabled = answer.marked === 0;
    } catch (error) {
      if (mine === asked) count.textContent = error.message;
    }
  }

  opener.addEventListener("click", () => {
    if (!ctx.datasetId()) { ctx.toast("Pick a dataset first.", "error"); return; }
    const choices = actionChoices(ctx.columns());
    const keep = select.value;
    select.replaceChildren(...choices.map((c) => el("option", { value: c.value, selected: c.value === keep }, c.label)));
    dialog.showModal();
    select.focus();
    recount();
  });
  select.addEventListener("change", recount);
  cancel.addEventListener("click", () => dialog.close());
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      const answer = await api("/api/annotations/bulk", { method: "POST", json: body(true) });
      dialog.close();
      ctx.toast(answer.changed
        ? `Marked ${answer.changed.toLocaleString()} records — Undo (↶) undoes them all.`
        : "Nothing to change: those records were marked already.");
      ctx.reload();
    } catch (error) {
      count.textContent = error.message;
      confirm.disabled = false;
    }
  });
  // An undo of a whole group (curation.js) changed many rows: show them again.
  document.addEventListener("workbench:group-undone", () => ctx.reload());
}
