// The trace of one answer (GET /api/runs/{run}/results/{record}): what it took, then the prompt sent
// and the raw answer, collapsed. Everything from the data or the model goes in as text (dom.js el).
import { api, ApiError } from "./api.js";
import { el } from "./dom.js";

// "." and ".." can't be path segments (URLs resolve them away): those ids go in the query.
export function traceUrl(runId, recordId) {
  const run = encodeURIComponent(runId);
  if (recordId === "." || recordId === "..") return `/api/runs/${run}/results/?record_id=${encodeURIComponent(recordId)}`;
  return `/api/runs/${run}/results/${encodeURIComponent(recordId)}`;
}

export async function traceView(runId, recordId) {
  let trace;
  try {
    trace = await api(traceUrl(runId, recordId));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return el("p", { class: "trace muted" }, "No answer from this run yet.");
    throw error;
  }
  return renderTrace(trace);
}

const orNone = (value, show = String) => (value === null || value === undefined ? "—" : show(value));

function figures(trace) {
  const money = (value) => `$${value < 0.01 && value > 0 ? value.toPrecision(2) : value.toFixed(4)}`;
  return [
    ["Latency", orNone(trace.latency_ms, (ms) => `${Math.round(ms)} ms`)],
    ["Tokens in / out", `${orNone(trace.tokens_in)} / ${orNone(trace.tokens_out)}`],
    ["Cost", money(trace.cost || 0)],
    ["Attempts", orNone(trace.attempts)],
    ["Cached", trace.cached ? "yes" : "no"],
    ["Finish reason", orNone(trace.finish_reason)],
  ];
}

export function renderTrace(trace) {
  const rows = figures(trace).map(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]);
  const parts = [el("dl", { class: "trace-figures" }, ...rows)];
  if (trace.error) {
    parts.push(el("p", { class: "trace-error", role: "note" }, el("strong", {}, `Error (${trace.error.kind}): `),
      trace.error.message || ""));
  }
  const messages = trace.messages || [];
  parts.push(el("details", { class: "trace-prompt" },
    el("summary", {}, `Prompt sent (${messages.length} message${messages.length === 1 ? "" : "s"})`),
    messages.length
      ? messages.map((m) => el("div", { class: "trace-message" }, el("h4", {}, m.role), el("pre", { tabindex: "0" }, m.content)))
      : el("p", { class: "muted" }, "Nothing was sent (the prompt could not be made).")));
  const raw = trace.raw_text ?? (trace.output ? JSON.stringify(trace.output, null, 2) : null);
  parts.push(el("details", { class: "trace-raw" },
    el("summary", {}, trace.raw_text === null && trace.output ? "Raw answer (as parsed)" : "Raw answer"),
    raw === null ? el("p", { class: "muted" }, "No answer text.") : el("pre", { tabindex: "0" }, raw)));
  const title = `Run ${trace.run_id}${trace.task ? ` · ${trace.task.name} v${trace.task.version}` : ""}`;
  return el("section", { class: "trace", "aria-label": `Trace: ${title}` },
    el("h4", { class: "trace-title" }, `Trace · ${title}`), ...parts);
}
