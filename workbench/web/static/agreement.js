// People agree with people: annotators' agreement per field (percent, Cohen's κ for two, Krippendorff's α
// for any number), from GET /api/agreement/annotators, and their disagreements as a drill of the grid
// (drill=annotators&drill_field=F). Renders into #metrics-people; every value is inserted as text.
import { api } from "./api.js";
import { el } from "./dom.js";
import { chanceAgreement, figureText, missing, num } from "./metrics.js";

const FIELDS = { judgement: "Judgement (good / wrong)", golden: "Golden", preference: "Preferred column" };
const two = (v) => num(v, 2);
const withInterval = (v, low, high) => (missing(v) ? "–" : missing(low) ? two(v) : `${two(v)} (95% CI ${two(low)} to ${two(high)})`);
const percentText = (p) => figureText(p.k, p.n, p.low, p.high, p.small);

function row(name, value) {
  return el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, value));
}

function pairsTable(field, pairs) {
  return el("table", { class: "agreement-pairs" },
    el("caption", { class: "visually-hidden" }, `Agreement on ${field} per pair of annotators`),
    el("thead", {}, el("tr", {}, ...["pair", "n", "agree", "Cohen's κ"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...pairs.map((p) => el("tr", {}, el("th", { scope: "row" }, p.annotators.join(" and ")),
      el("td", {}, String(p.n)), el("td", {}, percentText(p.percent)),
      el("td", {}, withInterval(p.kappa, p.kappa_low, p.kappa_high))))));
}

// High raw agreement with a low κ / α: said in one sentence, as the models' agreement table does.
function chanceNote(figures) {
  const percent = figures.percent && figures.percent.value;
  const beyond = missing(figures.kappa) ? figures.alpha : figures.kappa;
  if (missing(percent) || percent < 0.6 || (!missing(beyond) && beyond >= 0.4)) return null;
  const chance = missing(figures.kappa) ? null : chanceAgreement(percent, figures.kappa);
  const expected = missing(chance) ? "" : ` (${(chance * 100).toFixed(0)}% expected here)`;
  return `They agree on ${(percent * 100).toFixed(0)}%, yet beyond chance they hardly agree: when one label is given almost always, that much agreement comes by chance${expected}.`;
}

function fieldSection(field, figures, onDrill) {
  const title = FIELDS[field] || field;
  const rows = [row("annotators", figures.annotators.join(", ")), row("units labelled by two or more", String(figures.n)),
    row("all agree", percentText(figures.percent))];
  if (figures.annotators.length === 2) rows.push(row("Cohen's κ", withInterval(figures.kappa, figures.kappa_low, figures.kappa_high)));
  rows.push(row("Krippendorff's α", two(figures.alpha)));
  const parts = [el("h4", {}, title), el("table", { class: "agreement-field" },
    el("caption", { class: "visually-hidden" }, `Annotators' agreement on ${title}`), el("tbody", {}, ...rows))];
  const note = chanceNote(figures);
  if (note) parts.push(el("p", { class: "kappa-note" }, note));
  if (figures.pairs && figures.pairs.length) parts.push(pairsTable(title, figures.pairs));
  const count = figures.disagreements;
  if (count && onDrill) {
    const text = `Show the ${count.toLocaleString()} record${count === 1 ? "" : "s"} where they disagree`;
    parts.push(el("button", { type: "button", class: "agreement-drill", dataset: { field },
      onclick: () => onDrill({ drill: "annotators", drill_field: field }) }, text));
  } else if (!count) {
    parts.push(el("p", { class: "muted" }, "They agree on every one."));
  }
  return el("section", { class: "agreement-section", dataset: { field } }, ...parts);
}

// columnIds: the grid's columns (their answers' labels count); onDrill(params): show those records in the grid.
export async function showAnnotatorAgreement(container, datasetId, columnIds, onDrill) {
  if (!container) return;
  const heading = el("h3", {}, "People agree with people");
  container.replaceChildren(heading, el("p", { class: "muted" }, "computing…"));
  if (!datasetId) { container.replaceChildren(); return; }
  let answer;
  try {
    const params = new URLSearchParams({ dataset_id: datasetId });
    if (columnIds && columnIds.length) params.set("models", columnIds.join(","));
    answer = await api(`/api/agreement/annotators?${params}`);
  } catch (error) {
    container.replaceChildren(heading, el("p", { class: "err" }, error.message));
    return;
  }
  const compared = Object.entries(answer.fields || {}).filter(([, figures]) => figures.n > 0);
  if (!compared.length) {
    container.replaceChildren(heading, el("p", { class: "muted agreement-none" },
      "Only one annotator so far: when two or more people judge, mark or prefer the same answers, their agreement shows here."));
    return;
  }
  container.replaceChildren(heading,
    el("p", { class: "muted" }, `On the answers and records two or more of ${answer.annotators.join(", ")} labelled.`),
    el("div", { class: "agreement-fields" }, ...compared.map(([field, figures]) => fieldSection(field, figures, onDrill))));
}
