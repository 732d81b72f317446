// The metrics panel: tables with small inline bars, from GET /api/metrics. A confusion cell or a pair's
// agreement figure is a button: it closes the dialog and filters the grid to those records (onDrill).
import { api } from "./api.js";
import { $, el } from "./dom.js";
import { returnFocusOnClose } from "./panels.js";

const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
export const num = (v, digits = 0) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
const bar = (v) => el("div", { class: "hbar", style: `width:${Math.round((v || 0) * 100)}%` });
export const missing = (v) => v === null || v === undefined;
// A 95% interval in points of percent, finer when it is narrow: "23–88%", "49.8–50.4%".
export function interval(low, high) {
  if (missing(low) || missing(high)) return "";
  const digits = high - low < 0.05 ? 1 : 0;
  return `95% CI ${(low * 100).toFixed(digits)}–${(high * 100).toFixed(digits)}%`;
}
// A proportion as the panel says it: "60% (3 of 5) · 95% CI 23–88% · small sample".
export function figureText(k, n, low, high, small) {
  if (!n) return "– (no records)";
  return [`${pct(k / n)} (${k} of ${n})`, interval(low, high), small ? "small sample" : ""].filter(Boolean).join(" · ");
}
const ciCell = (p) => [interval(p.low, p.high), p.small && p.n ? "small sample" : ""].filter(Boolean).join(" · ") || "–";
const kappaText = (p) => (missing(p.kappa) ? "–"
  : missing(p.kappa_low) ? num(p.kappa, 2) : `${num(p.kappa, 2)} (${num(p.kappa_low, 2)} to ${num(p.kappa_high, 2)})`);
// A test's verdict names the columns by id ("run:7 is better: …"): said with their names here.
export function verdictText(test, ids, name) {
  let text = test.verdict || "";
  for (const id of ids) if (text.startsWith(`${id} is better`)) text = name(id) + text.slice(String(id).length);
  return test.small && test.n >= 10 ? `${text} · small sample` : text;
}
// A bar column's header: named for screen readers (an empty <th> names nothing), not shown.
const BAR = { bar: true };

// headers: strings (BAR for a bar column); rows: cells, the first one heads its row.
function table(caption, headers, rows) {
  return el("table", {}, el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col" },
      h === BAR ? el("span", { class: "visually-hidden" }, "bar") : h)))),
    el("tbody", {}, ...rows.map(([first, ...rest]) => el("tr", {}, el("th", { scope: "row" }, first),
      ...rest.map((c) => el("td", {}, c))))));
}

// What agreement chance alone gives, from κ = (p_o − p_e) / (1 − p_e): p_e = (p_o − κ) / (1 − κ).
export function chanceAgreement(percent, kappa) {
  if (percent === null || percent === undefined || kappa === null || kappa === undefined || kappa === 1) return null;
  return (percent - kappa) / (1 - kappa);
}

// Where raw agreement is high and κ low (or undefined), one plain sentence saying why.
export function kappaNote(pair, name) {
  const { percent, kappa, n } = pair;
  if (!n || percent === null || percent === undefined || percent < 0.8 || (kappa !== null && kappa !== undefined && kappa >= 0.4)) return null;
  const who = pair.models.map(name).join(" and ");
  const chance = chanceAgreement(percent, kappa);
  const kappaText = kappa === null || kappa === undefined ? "κ can't be computed" : `κ is ${num(kappa, 2)}`;
  const chanceText = chance === null ? "" : ` (${pct(chance)} expected here)`;
  return `${who} agree on ${pct(percent)}, yet ${kappaText}: when almost every answer is one label, two models agree that often by chance${chanceText}, and κ counts only the agreement beyond chance.`;
}

// A figure that drills: a real button with a name saying which records it shows.
function drillButton(text, name, params, drill) {
  return el("button", { type: "button", class: "drill", "aria-label": name, title: name, onclick: () => drill(params) }, text);
}

// The field the confusion matrices are about: the task's primary verdict (from the metrics answer once the
// server names it, else from the grid's task for these columns).
async function primaryField(m, datasetId, models) {
  const named = m.primary_verdict ?? m.primary ?? Object.values(m.confusion || {}).map((c) => c.field).find(Boolean);
  if (named) return named;
  if (!Object.keys(m.confusion || {}).length) return null;
  try {
    const grid = await api(`/api/workbench?${new URLSearchParams({ dataset_id: datasetId, limit: "1", counts: "false", ...(models.length ? { models: models.join(",") } : {}) })}`);
    return grid.task ? grid.task.primary_verdict : null;
  } catch { return null; }
}

// models: the grid's column ids (run:ID or model ids); labels: column id → its readable label;
// onDrill(params): the contract-3 query params of the records a clicked figure stands for.
export async function openMetrics(datasetId, models, labels = {}, onDrill = null) {
  const dialog = $("#metrics-dialog");
  const body = $("#metrics-body");
  const heading = dialog.querySelector("h2");
  if (heading) { heading.id ||= "metrics-title"; dialog.setAttribute("aria-labelledby", heading.id); }
  returnFocusOnClose(dialog);
  body.replaceChildren(el("p", { class: "muted" }, "computing…"));
  if (!dialog.open) dialog.showModal();
  let m;
  try {
    m = await api(`/api/metrics?${new URLSearchParams({ dataset_id: datasetId, ...(models.length ? { models: models.join(",") } : {}) })}`);
  } catch (error) {
    body.replaceChildren(el("p", { class: "err" }, error.message));
    return;
  }
  const field = await primaryField(m, datasetId, models);
  const drill = onDrill ? (params) => { dialog.close(); onDrill(params); } : null;
  body.replaceChildren(el("div", { class: "metrics-grid" }, ...sections(m, labels, field, drill)));
}

// Labels end alike when the columns share a task ("… · candidate-screening v1"): said once above
// the tables, the names in them are what tells the columns apart (a pair's cell stays short).
export function shortNames(ids, labels) {
  const parts = ids.map((id) => String(labels[id] || id).split(" · "));
  let shared = 0;
  const fewest = Math.min(...parts.map((p) => p.length));
  while (shared < fewest - 1 && parts.every((p) => p[p.length - 1 - shared] === parts[0][parts[0].length - 1 - shared])) shared++;
  const short = parts.map((p) => p.slice(0, p.length - shared).join(" · "));
  if (ids.length < 2 || !shared || new Set(short).size < short.length) {
    return { name: (id) => labels[id] || id, shared: "" };
  }
  const byId = Object.fromEntries(ids.map((id, i) => [id, short[i]]));
  return { name: (id) => byId[id] || labels[id] || id, shared: parts[0].slice(parts[0].length - shared).join(" · ") };
}

function sections(m, labels, field, drill) {
  const ids = Object.keys(m.models);
  const { name, shared } = shortNames(ids, labels);
  const out = [];
  if (shared) out.push(el("p", { class: "muted metrics-shared" }, `All columns: ${shared}`));
  out.push(el("section", {}, el("h3", {}, "Models"), table("Models",
    ["column", "answered", "errors", "mean latency", "tokens in / out", "cost"],
    ids.map((id) => {
      const s = m.models[id];
      return [name(id), String(s.answered), String(s.errors), s.mean_latency_ms === null ? "–" : `${num(s.mean_latency_ms)} ms`,
        `${s.tokens_in} / ${s.tokens_out}`, `$${num(m.costs ? m.costs[id] : 0, 4)}`];
    }))));
  out.push(el("section", {}, el("h3", {}, "Accuracy against golden / corrected labels"), table("Accuracy",
    ["column", "accuracy", BAR, "based on", "95% interval"],
    ids.map((id) => { const a = m.accuracy[id]; return [name(id), pct(a.accuracy), bar(a.accuracy), `${a.correct} of ${a.n}`, ciCell(a)]; }))));
  if (m.icl && m.icl.length) out.push(fewShotSection(m.icl));
  for (const [agreementField, pairs] of Object.entries(m.agreement)) out.push(agreementSection(agreementField, pairs, name, drill));
  out.push(el("section", {}, el("h3", {}, "Win rate (preferences)"), table("Win rate",
    ["column", "wins", BAR, "of", "95% interval"],
    ids.map((id) => { const w = m.win_rate[id]; return [name(id), pct(w.rate), bar(w.rate), `${w.wins} / ${w.n}`, ciCell(w)]; })),
  el("p", { class: "muted" }, `ties ${m.preferences.tie}, all bad ${m.preferences.all_bad}`)));
  if (m.paired && m.paired.length) out.push(pairedSection(m.paired, name));
  for (const [id, c] of Object.entries(m.confusion || {})) out.push(confusionSection(id, c, name, field, drill));
  return out;
}

function agreementSection(field, pairs, name, drill) {
  const rows = pairs.map((p) => {
    const [a, b] = p.models.map(name);
    const pair = el("span", { class: "pair-names" }, a, el("br"), `vs ${b}`);
    const agree = p.percent === null || p.percent === undefined ? 0 : Math.round(p.percent * p.n);
    const disagree = p.n - agree;
    const params = (value) => ({ drill: "pair", drill_columns: p.models.join(","), drill_field: field, drill_agree: value });
    const who = p.models.map(name).join(" and ");
    const agreeCell = drill && agree
      ? drillButton(pct(p.percent), `${agree} records: ${who} agree on ${field}`, params("1"), drill) : pct(p.percent);
    const disagreeCell = drill && disagree
      ? drillButton(String(disagree), `${disagree} records: ${who} disagree on ${field}`, params("0"), drill) : String(disagree);
    const agreeWithInterval = el("span", {}, agreeCell, el("br"), el("span", { class: "muted" }, ciCell(p)));
    return [pair, agreeWithInterval, bar(p.percent), disagreeCell, kappaText(p), String(p.n)];
  });
  const notes = pairs.map((p) => kappaNote(p, name)).filter(Boolean);
  return el("section", {}, el("h3", {}, `Agreement: ${field}`),
    table(`Agreement on ${field}`, ["pair", "agree (95% interval)", BAR, "disagree", "Cohen's κ (95% interval)", "n"], rows),
    ...notes.map((text) => el("p", { class: "kappa-note" }, text)));
}

// Zero-shot vs few-shot on the same records: the paired difference with its interval, the McNemar
// verdict, and what was left out and why (examples, labels that are the model's own answers).
function fewShotSection(icl) {
  const acc = (a) => figureText(a.correct, a.n, a.low, a.high, a.small);
  const change = (d) => (!d || missing(d.value) ? "–"
    : `${d.value >= 0 ? "+" : ""}${(d.value * 100).toFixed(1)} pts${missing(d.low) ? ""
      : ` (95% CI ${(d.low * 100).toFixed(1)} to ${(d.high * 100).toFixed(1)})`}${d.small ? " · small sample" : ""}`);
  const rows = icl.map((r) => [r.model_id, acc(r.zero_shot), `${acc(r.few_shot)} (${r.examples} ex.)`, change(r.difference),
    r.mcnemar ? r.mcnemar.verdict : "–"]);
  const notes = icl.filter((r) => r.excluded_note).map((r) => el("p", { class: "muted" }, `${r.model_id}: ${r.excluded_note}.`));
  return el("section", {}, el("h3", {}, "Few-shot vs zero-shot (same records; examples and self-labelled records left out)"),
    table("Few-shot vs zero-shot", ["model", "zero-shot", "few-shot", "change (few − zero)", "paired test"], rows), ...notes);
}

// For each pair of columns: exact McNemar on the records both answered with a label, and the sign
// test on the preferences, each with the counts it rests on and its verdict in words.
function pairedSection(paired, name) {
  const rows = paired.map((p) => {
    const [a, b] = p.models.map(name);
    return [el("span", { class: "pair-names" }, a, el("br"), `vs ${b}`),
      `${verdictText(p.mcnemar, p.models, name)} (${p.labelled ?? p.mcnemar.n} labelled records)`,
      verdictText(p.sign, p.models, name)];
  });
  const field = paired[0].field;
  return el("section", {}, el("h3", {}, "Paired tests (same records)"),
    table("Paired tests", ["pair", `right / wrong on ${field || "every verdict"} (exact McNemar)`, "preferences (sign test)"], rows),
    el("p", { class: "muted" }, "Counts are the records where only one of the two was right (or was preferred); ties and records both got right or wrong say nothing about which is better."));
}

function confusionSection(id, c, name, field, drill) {
  const max = Math.max(1, ...c.matrix.flat());
  const cell = (v, i, j) => {
    const label = c.labels[i];
    const answer = c.labels[j];
    const content = drill && v && field
      ? drillButton(String(v), `${v} records: ${name(id)} answered ${answer} where the label is ${label}`,
        { drill: "confusion", drill_column: id, drill_field: field, drill_label: label, drill_answer: answer }, drill)
      : String(v);
    return el("td", { class: "heat", style: `background: rgba(37,99,235,${((v / max) * 0.6).toFixed(3)})` }, content);
  };
  return el("section", {}, el("h3", {}, `Confusion: ${name(id)} vs label (n=${c.n})`),
    el("table", {}, el("caption", { class: "visually-hidden" }, `Confusion matrix of ${name(id)}: rows are the label, columns the answer`),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "label ↓ / model →"), ...c.labels.map((l) => el("th", { scope: "col" }, l)))),
      el("tbody", {}, ...c.matrix.map((row, i) => el("tr", {}, el("th", { scope: "row" }, c.labels[i]), ...row.map((v, j) => cell(v, i, j)))))));
}
