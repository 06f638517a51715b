// Settings page (/app/settings/): canned responses and labels (docs/desk.md). Administrators
// list, create, edit and delete; other operators read. A client of the REST API only: the
// server validates and decides (duplicates, scope); its field errors are shown by the fields.
// Everything users typed becomes text nodes or input values, never HTML.
import { clear, h } from "../shared/dom.js";
import { t } from "../shared/i18n.js";
import { api } from "./api.js";
import { catalog, labelChip } from "./labels.js";
import { initLanguage } from "./language.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
// The profile's language; a change made here applies on reload (the tables are built once).
initLanguage({ locale: boot.user.locale, titleKey: "panel.settings.page_title", onChange: () => location.reload() });
const isAdmin = !!boot.user.is_admin;
const inboxName = new Map((boot.inboxes || []).map((inbox) => [inbox.id, inbox.name]));

/**
 * One catalogue: a search box, a table read in pages, and (administrators) a form for create
 * and edit plus a two-step delete on each row. ``words``: the catalogue keys' prefix of its
 * own texts (search, search_placeholder, form, new, create, none).
 */
function catalogEditor({ root, noun, words, fields, load, create, update, remove, cells, headers, toBody, fromRow }) {
  const search = h("input", { type: "search", placeholder: t(`${words}.search_placeholder`), "aria-label": t(`${words}.search`) });
  const table = h("table", { class: "settings-table" });
  const more = h("button", { type: "button", class: "link", hidden: true }, t("panel.list.load_more"));
  const status = h("p", { class: "muted small", role: "status" });
  const form = h("form", { class: "settings-form", hidden: true, "aria-label": t(`${words}.form`), dataset: { testid: `${noun}-form` } });
  const inputs = {};
  const errors = {};
  let editing = null; // the row being edited, or null for a new one
  let next = null;
  let request = 0;

  for (const field of fields) {
    let input;
    if (field.kind === "textarea") input = h("textarea", { rows: "5", name: field.name });
    else if (field.kind === "select") input = h("select", { name: field.name }, field.options().map(([value, text]) => h("option", { value }, text)));
    else input = h("input", { type: field.kind || "text", name: field.name });
    inputs[field.name] = input;
    errors[field.name] = h("span", { class: "form-error small", dataset: { error: field.name } });
    form.append(h("label", { class: "settings-field" }, h("span", {}, field.label), input, errors[field.name]));
  }
  const formError = h("p", { class: "form-error", role: "alert" });
  const save = h("button", { type: "submit", class: "primary" }, t("common.save"));
  const cancel = h("button", { type: "button", onclick: () => closeForm() }, t("common.cancel"));
  form.append(formError, h("div", { class: "settings-actions" }, save, cancel));
  const add = h("button", { type: "button", class: "primary", dataset: { testid: `new-${noun}` }, onclick: () => openForm(null) }, t(`${words}.new`));

  function openForm(row) {
    editing = row;
    form.hidden = false;
    for (const field of fields) {
      inputs[field.name].value = row ? fromRow(row)[field.name] ?? "" : field.initial ?? "";
      errors[field.name].textContent = "";
    }
    formError.textContent = "";
    save.textContent = row ? t("panel.settings.save_changes") : t(`${words}.create`);
    inputs[fields[0].name].focus();
  }
  function closeForm() {
    form.hidden = true;
    editing = null;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(fields.map((f) => [f.name, inputs[f.name].value]));
    for (const field of fields) errors[field.name].textContent = "";
    formError.textContent = "";
    save.disabled = true;
    try {
      if (editing) await update(editing.id, toBody(values));
      else await create(toBody(values));
      closeForm();
      await reload();
      status.textContent = t("panel.settings.saved");
    } catch (err) {
      const fieldErrors = (err && err.fields) || {};
      let shown = false;
      for (const [name, messages] of Object.entries(fieldErrors)) {
        const target = errors[name === "inbox" ? "inbox" : name];
        if (target) { target.textContent = [].concat(messages).join(" "); shown = true; }
      }
      formError.textContent = shown ? "" : (err && err.message) || t("panel.settings.save_failed");
    } finally {
      save.disabled = false;
    }
  });

  function row(item) {
    const actions = [];
    if (isAdmin) {
      const del = h("button", { type: "button", class: "warn", dataset: { testid: "delete" } }, t("panel.settings.delete"));
      del.addEventListener("click", async () => {
        if (del.dataset.armed !== "1") { del.dataset.armed = "1"; del.textContent = t("panel.settings.confirm_delete"); return; }
        try {
          await remove(item.id);
          await reload();
          status.textContent = t("panel.settings.deleted");
        } catch (err) {
          status.textContent = t("panel.settings.delete_failed", { reason: (err && err.message) || t("common.error") });
        }
      });
      actions.push(h("button", { type: "button", dataset: { testid: "edit" }, onclick: () => openForm(item) }, t("panel.settings.edit")), del);
    }
    return h("tr", { dataset: { id: String(item.id), testid: `${noun}-row` } },
      cells(item).map((cell) => h("td", {}, cell)), isAdmin ? h("td", { class: "settings-row-actions" }, actions) : null);
  }

  async function reload(append = false) {
    const mine = ++request;
    try {
      const page = append && next ? await load({ cursor: next }) : await load({ q: search.value.trim() });
      if (mine !== request) return;
      const body = table.tBodies[0] || table.appendChild(h("tbody"));
      if (!append) clear(body);
      for (const item of page.results || []) body.append(row(item));
      if (!body.rows.length) body.append(h("tr", {}, h("td", { colspan: String(headers.length + 1), class: "muted" }, t(`${words}.none`))));
      next = page.next || null;
      more.hidden = !next;
    } catch (err) {
      status.textContent = t("panel.settings.load_failed", { reason: (err && err.message) || t("common.error") });
    }
  }

  table.append(h("thead", {}, h("tr", {}, headers.map((text) => h("th", {}, text)), isAdmin ? h("th", {}, "") : null)), h("tbody"));
  let searchTimer = 0;
  search.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => reload(), 200); });
  more.addEventListener("click", () => reload(true));
  root.append(h("div", { class: "settings-tools" }, search, isAdmin ? add : null), form, status, table, more);
  return reload();
}

const scopeOptions = () => [["", t("panel.settings.canned.all_inboxes")], ...[...inboxName].map(([id, name]) => [String(id), name])];

catalogEditor({
  root: document.getElementById("canned"),
  noun: "response",
  words: "panel.settings.canned",
  headers: [t("panel.settings.canned.short_code"), t("panel.settings.canned.inbox"), t("panel.settings.canned.content")],
  fields: [
    { name: "short_code", label: t("panel.settings.canned.short_code_field") },
    { name: "inbox", label: t("panel.settings.canned.inbox"), kind: "select", options: scopeOptions },
    { name: "content", label: t("panel.settings.canned.content"), kind: "textarea" },
  ],
  load: (params) => api.cannedResponses({ limit: 100, ...params }),
  create: (body) => api.createCannedResponse(body),
  update: (id, body) => api.updateCannedResponse(id, body),
  remove: (id) => api.deleteCannedResponse(id),
  toBody: (v) => ({ short_code: v.short_code, content: v.content, inbox: v.inbox ? Number(v.inbox) : null }),
  fromRow: (item) => ({ short_code: item.short_code, content: item.content, inbox: item.inbox == null ? "" : String(item.inbox) }),
  cells: (item) => [
    h("code", {}, `/${item.short_code}`),
    item.inbox == null ? h("span", { class: "muted" }, t("panel.settings.canned.global")) : inboxName.get(item.inbox) || `#${item.inbox}`,
    h("span", { class: "settings-content" }, item.content),
  ],
});

catalogEditor({
  root: document.getElementById("labels"),
  noun: "label",
  words: "panel.settings.labels",
  headers: [t("panel.settings.labels.label"), t("panel.settings.labels.description")],
  fields: [
    { name: "name", label: t("panel.settings.labels.name_field") },
    { name: "color", label: t("panel.settings.labels.colour"), kind: "color", initial: "#1f93ff" },
    { name: "description", label: t("panel.settings.labels.description") },
  ],
  load: async (params) => {
    const page = await api.labels({ limit: 100, ...params });
    for (const label of page.results || []) catalog.labels.set(label.name, label);
    return page;
  },
  create: (body) => api.createLabel(body),
  update: (id, body) => api.updateLabel(id, body),
  remove: (id) => api.deleteLabel(id),
  toBody: (v) => ({ name: v.name, color: v.color, description: v.description }),
  fromRow: (item) => ({ name: item.name, color: item.color, description: item.description }),
  cells: (item) => [labelChip(item.name), item.description],
});
