// The metrics panel: tables with small inline bars, from GET /api/metrics.
import { api } from "./api.js";
import { $, el } from "./dom.js";

const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
const num = (v, digits = 0) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
const bar = (v) => el("div", { class: "hbar", style: `width:${Math.round((v || 0) * 100)}%` });

function table(headers, rows) {
  return el("table", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h))),
    ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c)))));
}

// models: the grid's column ids (run:ID or model ids); labels: column id → its readable label.
export async function openMetrics(datasetId, models, labels = {}) {
  const body = $("#metrics-body");
  body.replaceChildren(el("p", { class: "muted" }, "computing…"));
  $("#metrics-dialog").showModal();
  let m;
  try {
    m = await api(`/api/metrics?${new URLSearchParams({ dataset_id: datasetId, ...(models.length ? { models: models.join(",") } : {}) })}`);
  } catch (error) {
    body.replaceChildren(el("p", { class: "err" }, error.message));
    return;
  }
  const ids = Object.keys(m.models);
  const name = (id) => labels[id] || id;
  const sections = [];
  sections.push(el("section", {}, el("h3", {}, "Models"), table(
    ["column", "answered", "errors", "mean latency", "tokens in / out", "cost"],
    ids.map((id) => {
      const s = m.models[id];
      return [name(id), String(s.answered), String(s.errors), s.mean_latency_ms === null ? "–" : `${num(s.mean_latency_ms)} ms`,
        `${s.tokens_in} / ${s.tokens_out}`, `$${num(m.costs ? m.costs[id] : 0, 4)}`];
    }))));
  sections.push(el("section", {}, el("h3", {}, "Accuracy against golden / corrected labels"), table(
    ["column", "accuracy", "", "based on"],
    ids.map((id) => { const a = m.accuracy[id]; return [name(id), pct(a.accuracy), bar(a.accuracy), `${a.correct} of ${a.n}`]; }))));
  if (m.icl && m.icl.length) {
    sections.push(el("section", {}, el("h3", {}, "Few-shot vs zero-shot (same records, examples left out)"), table(
      ["model", "zero-shot", "few-shot", "change", "records"],
      m.icl.map((r) => [r.model_id, pct(r.zero_shot.accuracy), `${pct(r.few_shot.accuracy)} (${r.examples} ex.)`,
        r.zero_shot.accuracy === null || r.few_shot.accuracy === null ? "–"
          : `${((r.few_shot.accuracy - r.zero_shot.accuracy) * 100).toFixed(1)} pts`, String(r.few_shot.n)]))));
  }
  for (const [field, pairs] of Object.entries(m.agreement)) {
    sections.push(el("section", {}, el("h3", {}, `Agreement: ${field}`), table(
      ["pair", "agree", "", "Cohen's κ", "n"],
      pairs.map((p) => [p.models.map(name).join(" vs "), pct(p.percent), bar(p.percent), num(p.kappa, 2), String(p.n)]))));
  }
  sections.push(el("section", {}, el("h3", {}, "Win rate (preferences)"), table(
    ["column", "wins", "", "of"],
    ids.map((id) => { const w = m.win_rate[id]; return [name(id), pct(w.rate), bar(w.rate), `${w.wins} / ${w.n}`]; })),
  el("p", { class: "muted" }, `ties ${m.preferences.tie}, all bad ${m.preferences.all_bad}`)));
  for (const [id, c] of Object.entries(m.confusion || {})) {
    const max = Math.max(1, ...c.matrix.flat());
    sections.push(el("section", {}, el("h3", {}, `Confusion: ${name(id)} vs label (n=${c.n})`),
      el("table", {}, el("tr", {}, el("th", {}, "label ↓ / model →"), ...c.labels.map((l) => el("th", {}, l))),
        ...c.matrix.map((row, i) => el("tr", {}, el("th", {}, c.labels[i]), ...row.map((v) => el("td", {
          class: "heat", style: `background: rgba(37,99,235,${(v / max) * 0.6})` }, String(v))))))));
  }
  body.replaceChildren(el("div", { class: "metrics-grid" }, ...sections));
}
