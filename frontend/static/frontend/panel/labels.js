// Labels in the panel (docs/desk.md "Labels"): the catalogue (names → colours), coloured chips
// for cards and the thread header, the editor under the thread header, the list's label filter.
// Names and descriptions only ever become text nodes; a colour is applied through the CSSOM
// after checking it is #rrggbb, so no label can inject markup or style.
import { append, clear, h } from "../shared/dom.js";
import { t } from "../shared/i18n.js";
import { api } from "./api.js";

const CATALOG_PAGE = 500;
const COLOR = /^#[0-9a-f]{6}$/i;
const DEFAULT_COLOR = "#1f93ff";

export const catalog = {
  labels: new Map(),   // name -> {id, name, color, description}
  truncated: false,    // more labels exist than the first page: the editor searches the server
  loaded: false,
};

let onChange = () => {};
let loading = null;

/** Load the catalogue's first page; ``changed`` runs after every change of the catalogue. */
export function initLabels(changed) {
  onChange = changed;
  return reloadLabels();
}

export function reloadLabels() {
  if (loading) return loading;
  loading = api.labels({ limit: CATALOG_PAGE })
    .then((page) => {
      catalog.labels.clear();
      for (const label of page.results || []) catalog.labels.set(label.name, label);
      catalog.truncated = !!page.next;
      catalog.loaded = true;
      onChange();
    })
    .catch(() => {})
    .finally(() => { loading = null; });
  return loading;
}

/** A name seen in a conversation payload that the catalogue does not know (created or renamed
 *  since the page loaded): reload the catalogue once in a while. */
let refreshTimer = 0;
export function noticeLabelNames(names) {
  if (!catalog.loaded || catalog.truncated) return;
  if ((names || []).some((name) => !catalog.labels.has(name))) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(reloadLabels, 500);
  }
}

function textColor(hex) {
  const n = parseInt(hex.slice(1), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return (r * 299 + g * 587 + b * 114) / 1000 > 150 ? "#1d2533" : "#fff";
}

export function labelChip(name, extra = {}) {
  const label = catalog.labels.get(name);
  const color = label && COLOR.test(label.color) ? label.color : DEFAULT_COLOR;
  const chip = h("span", { class: "label-chip", title: (label && label.description) || name,
    dataset: { testid: "label-chip", label: name }, ...extra }, name);
  chip.style.setProperty("background-color", color);
  chip.style.setProperty("color", textColor(color));
  return chip;
}

export function labelChips(names) {
  return (names || []).map((name) => labelChip(name));
}

// --- The list's filter ----------------------------------------------------------------------------

export function renderLabelFilter(select, current) {
  const keep = current || select.value;
  clear(select).append(new Option(t("panel.labels.all"), ""));
  const names = [...catalog.labels.keys()].sort();
  if (keep && !names.includes(keep)) names.unshift(keep);
  for (const name of names) select.append(new Option(name, name));
  select.value = keep || "";
}

// --- The editor -----------------------------------------------------------------------------------

let editor = null; // {root, conversationId}

export function labelEditorOpenFor() {
  return editor ? editor.conversationId : null;
}

export function closeLabelEditor() {
  if (editor) editor.root.remove();
  editor = null;
}

/**
 * Open the editor for a conversation under the thread header. ``apply(names)`` sends the new set
 * and resolves when the server answered; the editor stays open (with the error) if it failed.
 * Lives outside the header, which re-renders on every event, so the operator's work survives.
 */
export function openLabelEditor(conv, host, apply) {
  closeLabelEditor();
  const chosen = new Set(conv.labels || []);
  const search = h("input", { type: "search", placeholder: t("panel.labels.find_placeholder"), "aria-label": t("panel.labels.find"),
    dataset: { testid: "label-search" } });
  const list = h("ul", { class: "label-options", role: "listbox", "aria-multiselectable": "true",
    "aria-label": t("panel.labels.title") });
  const selected = h("div", { class: "label-selected", "aria-live": "polite" });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const save = h("button", { type: "submit", class: "primary", dataset: { testid: "label-apply" } }, t("panel.labels.apply"));
  const cancel = h("button", { type: "button", onclick: closeLabelEditor }, t("common.cancel"));
  const root = h("form", { class: "label-editor", dataset: { testid: "label-editor" }, "aria-label": t("panel.labels.edit") },
    h("div", { class: "label-editor-row" }, h("strong", {}, t("panel.labels.title")), h("span", { class: "spacer" }),
      h("button", { type: "button", class: "icon", "aria-label": t("common.close"), onclick: closeLabelEditor }, "×")),
    selected, search, list, error, h("div", { class: "label-editor-row" }, h("span", { class: "spacer" }), cancel, save));
  editor = { root, conversationId: conv.id };

  let remote = null; // search results from the server when the catalogue is truncated
  function render() {
    append(clear(selected), [chosen.size ? [...chosen].sort().map((name) => labelChip(name)) : h("span", { class: "muted small" }, t("panel.labels.none"))]);
    const q = search.value.trim().toLowerCase();
    const names = new Set([...(remote || []), ...catalog.labels.keys()]);
    const shown = [...names].filter((name) => !q || name.includes(q)).sort().slice(0, 200);
    clear(list);
    if (!shown.length) list.append(h("li", { class: "muted small" }, catalog.labels.size ? t("panel.labels.no_match") : t("panel.labels.empty_catalogue")));
    for (const name of shown) {
      const box = h("input", { type: "checkbox", checked: chosen.has(name), dataset: { label: name } });
      box.addEventListener("change", () => { if (box.checked) chosen.add(name); else chosen.delete(name); render(); });
      list.append(h("li", { role: "option", "aria-selected": String(chosen.has(name)) },
        h("label", { class: "label-option" }, box, labelChip(name))));
    }
  }
  let searchTimer = 0;
  search.addEventListener("input", () => {
    render();
    if (!catalog.truncated) return;
    clearTimeout(searchTimer);
    const q = search.value.trim();
    searchTimer = setTimeout(async () => {
      try {
        const page = await api.labels({ q, limit: 200 });
        for (const label of page.results || []) catalog.labels.set(label.name, label);
        remote = (page.results || []).map((label) => label.name);
        render();
      } catch (_) { /* the local list stays */ }
    }, 200);
  });
  root.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.preventDefault(); closeLabelEditor(); } });
  root.addEventListener("submit", async (e) => {
    e.preventDefault();
    save.disabled = true;
    error.hidden = true;
    try {
      await apply([...chosen].sort());
      closeLabelEditor();
    } catch (err) {
      error.hidden = false;
      error.textContent = (err && err.message) || t("panel.labels.failed");
    } finally {
      save.disabled = false;
    }
  });
  render();
  host.append(root);
  search.focus();
  // Labels created since the page loaded appear without a reload.
  reloadLabels().then(() => { if (editor && editor.root === root) render(); });
}
