// The view in the address bar, readable: ?dataset=…&columns=a,run:7&filter=differences&q=…&sort=…&diff=…
// &verdict=model:field=value&drill=…&record=…. Reading is forgiving: anything unknown is dropped here or
// by the page (an unknown dataset or column), never an error.
export const FILTERS = ["all", "differences", "golden", "needs_review", "fixed", "unreviewed"];
const SORTS = ["record", "disagreement"];
const DRILL_KEYS = {
  confusion: ["drill_column", "drill_field", "drill_label", "drill_answer"],
  pair: ["drill_columns", "drill_field", "drill_agree"],
};
const MAX = 500;  // a value longer than this is junk, not a view

const text = (value) => (typeof value === "string" && value.length <= MAX ? value : "");

// A drill as the contract's query params, or null when it is incomplete or unknown.
export function readDrill(params) {
  const kind = params.get("drill");
  if (!kind || !Object.hasOwn(DRILL_KEYS, kind)) return null;
  const drill = { drill: kind };
  for (const key of DRILL_KEYS[kind]) {
    const value = text(params.get(key) || "");
    if (!value) return null;
    drill[key] = value;
  }
  if (kind === "pair" && !["0", "1"].includes(drill.drill_agree)) return null;
  return drill;
}

// "model:field=value" → {model, field, value}; the model may hold ":" (run:7), so split at the last ":"
// before the "=".
export function parseVerdict(raw) {
  const value = text(raw);
  const eq = value.indexOf("=");
  if (eq < 0) return null;
  const left = value.slice(0, eq);
  const colon = left.lastIndexOf(":");
  if (colon <= 0 || colon === left.length - 1 || eq === value.length - 1) return null;
  return { model: left.slice(0, colon), field: left.slice(colon + 1), value: value.slice(eq + 1) };
}

export function readView(search = location.search) {
  const params = new URLSearchParams(search);
  const columns = params.has("columns")
    ? text(params.get("columns")).split(",").map((c) => c.trim()).filter(Boolean) : null;
  return {
    dataset: text(params.get("dataset") || "") || null,
    columns,
    filter: FILTERS.includes(params.get("filter")) ? params.get("filter") : "all",
    q: text(params.get("q") || "").trim(),
    sort: SORTS.includes(params.get("sort")) ? params.get("sort") : "record",
    diffField: text(params.get("diff") || ""),
    verdicts: params.getAll("verdict").slice(0, 20).map(parseVerdict).filter(Boolean),
    drill: readDrill(params),
    record: text(params.get("record") || "") || null,
  };
}

// The query string of a view; defaults are left out so a plain view has a short address.
export function viewSearch(view) {
  const params = new URLSearchParams();
  if (!view.dataset) return "";
  params.set("dataset", view.dataset);
  if (view.columns) params.set("columns", view.columns.join(","));
  if (view.filter && view.filter !== "all") params.set("filter", view.filter);
  if (view.q) params.set("q", view.q);
  if (view.sort && view.sort !== "record") params.set("sort", view.sort);
  if (view.diffField) params.set("diff", view.diffField);
  for (const v of view.verdicts || []) params.append("verdict", `${v.model}:${v.field}=${v.value}`);
  if (view.drill) for (const [key, value] of Object.entries(view.drill)) params.set(key, value);
  if (view.record) params.set("record", view.record);
  return `?${params}`;
}

// replaceState as the view changes; pushState (push) when the dataset changes, so Back goes back to it.
export function writeView(view, { push = false } = {}) {
  const search = viewSearch(view);
  if (search === location.search) return;
  const url = `${location.pathname}${search}${location.hash}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}
