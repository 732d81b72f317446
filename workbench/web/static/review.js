// Review mode: one record at a time, full screen, driven by the keyboard; the next record is preloaded.
import { api } from "./api.js";
import { $, el } from "./dom.js";
import { answerFields, columnLabel } from "./grid.js";

// While review mode is open the page behind it is inert: no focus, clicks or screen-reader reading there.
const BEHIND = ["header.topbar", ".layout", "#detail"];
const setBehindInert = (inert) => { for (const selector of BEHIND) $(selector).inert = inert; };

const FILTER_NAMES = { all: "All", differences: "Differences", golden: "Golden", needs_review: "Needs review",
  fixed: "Fixed", unreviewed: "Unreviewed" };

// ctx: { grid, view(), filter(), datasetId(), curation, loadMore() }
export function createReview(ctx) {
  const records = new Map();  // record id -> full record (preloaded)
  let index = 0;
  let active = 0;  // which column's answer g / w / e act on
  let returnFocus = null;  // where focus was before review mode opened

  const isOpen = () => !$("#review").hidden;

  async function fetchRecord(row) {
    if (!row || records.has(row.record_id)) return;
    records.set(row.record_id, null);
    try {
      const record = await api(`/api/datasets/${encodeURIComponent(ctx.datasetId())}/records/${encodeURIComponent(row.record_id)}`);
      records.set(row.record_id, record.data);
      if (isOpen() && ctx.grid.rows[index] === row) render();
    } catch { records.delete(row.record_id); }
  }

  function open(start = Math.max(ctx.grid.focused, 0)) {
    if (!ctx.grid.rows.length) return;
    index = Math.min(start, ctx.grid.rows.length - 1);
    returnFocus = document.activeElement;
    setBehindInert(true);
    $("#review").hidden = false;
    render();
    $("#review-close").focus();  // focus inside the dialog; the keys work from anywhere in it
  }

  function close() {
    $("#review").hidden = true;
    setBehindInert(false);
    ctx.grid.focus(index);
    if (returnFocus && returnFocus !== document.body && returnFocus.isConnected && !returnFocus.closest("#grid")) returnFocus.focus();
  }

  function go(delta) {
    const next = index + delta;
    if (next < 0) return;
    if (next >= ctx.grid.rows.length) { ctx.loadMore(); return; }
    index = next;
    ctx.grid.focused = index;
    if (ctx.grid.rows.length - index < 10) ctx.loadMore();
    render();
  }

  function render() {
    const row = ctx.grid.rows[index];
    const view = ctx.view();
    if (!row || !view) return;
    fetchRecord(row);
    fetchRecord(ctx.grid.rows[index + 1]);  // preload the next one
    const models = view.models;
    active = Math.min(active, Math.max(models.length - 1, 0));
    const total = view.counts ? view.counts[ctx.filter()] : ctx.grid.rows.length;
    $("#review-progress").textContent = `${FILTER_NAMES[ctx.filter()] || ctx.filter()}: ${index + 1} / ${total ?? "?"}`;
    const task = view.task;
    const diffs = new Set(row.disagree_fields || []);
    const data = records.get(row.record_id);
    const prefer = (value, label) => el("button", {
      type: "button", class: row.preference === value ? "on" : "", dataset: { prefer: value, focusKey: `prefer ${value}`, needs: "annotator" },
      "aria-pressed": String(row.preference === value),
      onclick: () => ctx.curation.setRecord(row, "preference", row.preference === value ? null : value),
    }, label);
    const note = el("textarea", { class: "note-box", "aria-label": "Note about this record", dataset: { focusKey: "note", needs: "annotator" }, placeholder: "Note about this record (saved when you leave the box)" });
    note.value = row.note || "";
    note.dataset.record = row.record_id;
    note.addEventListener("change", () => ctx.curation.setRecord(row, "note", note.value.trim() || null));
    const kept = keepFocus(row);
    $("#review-body").replaceChildren(
      el("h1", {}, row.title),
      el("div", { class: "muted" }, row.subtitle || row.record_id),
      el("div", { class: "answers", style: `--models:${Math.max(models.length, 1)}` }, ...models.map((m, i) => {
        const cell = row.models[m.id];
        const label = columnLabel(m);
        const parts = [el("strong", { title: m.id }, `${i + 1}. ${label}`)];
        if (!cell) parts.push(el("p", { class: "muted" }, "no answer yet"));
        else {
          parts.push(el("div", { class: "marks-line", role: "group", "aria-label": `Marks on ${label}'s answer` },
            button("⭐", "golden", cell.is_golden, () => ctx.curation.toggleGolden(row, m), "golden", label, m.id),
            button("👍", "good", cell.judgement === "good", () => ctx.curation.judge(row, m, "good"), "good", label, m.id),
            button("❌", "wrong", cell.judgement === "wrong", () => ctx.curation.judge(row, m, "wrong"), "wrong", label, m.id),
            button("✏️", cell.is_fixed ? "fixed" : "fix", cell.is_fixed, () => ctx.curation.edit(row, m, task), "edit", label, m.id)));
          if (cell.error && !cell.is_fixed) parts.push(el("p", { class: "err" }, `${cell.error.kind}: ${cell.error.message || ""}`));
          for (const field of answerFields(cell, task)) {
            parts.push(el("div", { class: `field${diffs.has(field) ? " diff" : ""}` }, el("strong", {}, `${field}: `), String(cell[field])));
          }
          if (cell.is_fixed && cell.original) parts.push(el("div", { class: "original" }, `original: ${JSON.stringify(cell.original)}`));
        }
        return el("div", { class: `answer${i === active ? " active" : ""}`, onclick: () => { active = i; render(); } }, ...parts);
      })),
      el("div", { class: "prefs" }, el("span", { class: "muted" }, "Better column:"),
        ...models.map((m, i) => prefer(m.id, `${i + 1} ${columnLabel(m)}`)), prefer("tie", "tie (t)"), prefer("all_bad", "all bad")),
      judgeSuggestions(row, models),
      note,
      el("h2", {}, "Record"),
      el("pre", { tabindex: "0", "aria-label": "The record's data" }, data ? JSON.stringify(data, null, 2) : "loading…"),
    );
    kept();
  }

  // The judge's word, apart from the people's choice above it: a suggestion, never a preference.
  function judgeSuggestions(row, models) {
    const found = Array.isArray(row.judge) ? row.judge : [];
    if (!found.length) return null;
    const byId = new Map(models.map((m) => [m.id, columnLabel(m)]));
    const name = (id) => byId.get(id) || id;
    return el("div", { class: "judge-suggestions", role: "note", "aria-label": "The judge's suggestions (not a person's)" },
      ...found.map((s) => el("p", { class: `judge-suggestion${s.consistent === false ? " inconsistent" : ""}` },
        el("span", { "aria-hidden": "true" }, "⚖ "), suggestionText(s, name),
        s.reason ? el("span", { class: "muted" }, ` — “${s.reason}”`) : null,
        el("span", { class: "muted" }, ` (${name(s.columns[0])} vs ${name(s.columns[1])}, judge ${s.judge_model})`))));
  }

  // A render replaces the body: the control that had focus (and a note being typed) comes back as it was,
  // so a live update or a mark never drops the keyboard user to <body> or loses their words.
  function keepFocus(row) {
    const focused = document.activeElement;
    const key = focused && $("#review-body").contains(focused) ? focused.dataset.focusKey : null;
    if (!key) return () => {};
    const typing = key === "note" && focused.dataset.record === row.record_id
      ? { value: focused.value, start: focused.selectionStart, end: focused.selectionEnd } : null;
    return () => {
      const again = [...$("#review-body").querySelectorAll("[data-focus-key]")].find((e) => e.dataset.focusKey === key);
      if (!again) return;
      if (typing) { again.value = typing.value; again.setSelectionRange(typing.start, typing.end); }
      again.focus();
    };
  }

  // The emoji is decoration; the words (naming the column) are the name. The fix button opens a dialog, so it
  // is not a toggle: its name says whether the answer is fixed.
  function button(icon, text, on, handler, name, column, columnId) {
    const accessibleName = name === "edit" ? `Fix ${column}'s answer${on ? " (fixed)" : ""}`
      : `${text[0].toUpperCase()}${text.slice(1)}: ${column}`;
    const state = name === "edit" ? {} : { "aria-pressed": String(!!on) };
    return el("button", { type: "button", class: on ? "on" : "", onclick: handler, "aria-label": accessibleName,
      dataset: { review: name, focusKey: `${name} ${columnId}`, needs: "annotator" }, ...state },
    el("span", { "aria-hidden": "true" }, icon), ` ${text}`);
  }

  function onKey(e) {
    if (!isOpen() || document.querySelector("dialog[open]")) return false;
    if (e.key === "Escape") { close(); e.preventDefault(); return true; }
    if (e.target.closest("textarea, input, select")) return false;
    const row = ctx.grid.rows[index];
    const models = ctx.view().models;
    const model = models[active];
    const key = e.key;
    if (key === "n" || key === "ArrowRight") go(1);
    else if (key === "p" || key === "ArrowLeft") go(-1);
    else if (key === "Tab") { active = (active + (e.shiftKey ? models.length - 1 : 1)) % Math.max(models.length, 1); render(); }
    else if (key === "u") ctx.curation.undo();
    else if (key === "t" && row) ctx.curation.setRecord(row, "preference", "tie");
    else if (/^[1-9]$/.test(key) && row && models[Number(key) - 1]) ctx.curation.setRecord(row, "preference", models[Number(key) - 1].id);
    else if (model && row && key === "g") ctx.curation.toggleGolden(row, model);
    else if (model && row && key === "w") ctx.curation.judge(row, model, "wrong");
    else if (model && row && key === "o") ctx.curation.judge(row, model, "good");
    else if (model && row && key === "e") ctx.curation.edit(row, model, ctx.view().task);
    else return false;
    e.preventDefault();
    return true;
  }

  $("#review-close").addEventListener("click", close);
  return { open, close, isOpen, render, onKey };
}

// One suggestion in words: "judge suggests X (consistent)", a tie, or an inconsistent verdict.
export function suggestionText(s, name = (id) => id) {
  if (s.consistent === false) return "judge inconsistent: flipped with order";
  if (s.preferred === null || s.preferred === undefined) return "judge: not judged in both orders yet";
  if (s.preferred === "tie") return "judge suggests a tie (consistent)";
  return `judge suggests ${name(s.preferred)} (consistent)`;
}
