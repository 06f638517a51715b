// The composer's canned-response picker (docs/desk.md "Canned responses"): typing "/" at the
// start of the composer opens a list of the responses of the conversation's inbox (the server
// merges them: an inbox's response hides a global one with the same short code), filtered by
// what follows the "/" (short code or content). ↑/↓ move, Enter or Tab insert the content in
// place of the "/query", Escape closes; a click inserts too. Content is shown and inserted as
// text, never parsed as HTML.
import { clear, h } from "../shared/dom.js";
import { t } from "../shared/i18n.js";
import { api } from "./api.js";

const TRIGGER = /^\/(\S{0,100})$/; // "/" at the start, then the query up to the caret
const LIMIT = 20;
const PREVIEW = 140;

let pickers = 0;

/**
 * Attach a picker to a composer. ``form`` is the composer (the picker's keys are taken in its
 * capture phase, before the composer's own Enter-to-send); ``inboxId()`` the conversation's inbox.
 */
export function attachCannedPicker({ form, input, inboxId, onInsert }) {
  const id = `canned-picker-${++pickers}`;
  const list = h("ul", { id, class: "canned-picker", role: "listbox", "aria-label": t("panel.canned.title"),
    hidden: true, dataset: { testid: "canned-picker" } });
  input.setAttribute("aria-controls", id);
  input.setAttribute("aria-autocomplete", "list");
  form.prepend(list);
  let items = [];
  let active = 0;
  let open = false;
  let request = 0;
  let timer = 0;
  let lastQuery = null;

  function query() {
    const caret = input.selectionStart ?? input.value.length;
    const match = input.value.slice(0, caret).match(TRIGGER);
    return match ? match[1] : null;
  }

  function close() {
    open = false;
    list.hidden = true;
    lastQuery = null;
    input.removeAttribute("aria-activedescendant");
    input.setAttribute("aria-expanded", "false");
    request++; // drop answers still on their way
  }

  function render(loading) {
    clear(list);
    if (!items.length) {
      list.append(h("li", { class: "canned-empty muted small" }, loading ? t("common.loading") : t("panel.canned.no_match")));
    }
    items.forEach((item, index) => {
      const content = item.content.length > PREVIEW ? `${item.content.slice(0, PREVIEW)}…` : item.content;
      const option = h("li", {
        id: `${id}-${index}`, role: "option", class: `canned-option${index === active ? " active" : ""}`,
        "aria-selected": String(index === active), dataset: { testid: "canned-option", code: item.short_code },
        // mousedown, not click: the composer keeps its focus and caret.
        onmousedown: (e) => { e.preventDefault(); insert(index); },
      }, h("span", { class: "canned-code" }, `/${item.short_code}`), h("span", { class: "canned-content" }, content));
      list.append(option);
    });
    if (items.length) input.setAttribute("aria-activedescendant", `${id}-${active}`);
    const current = list.querySelector(".canned-option.active");
    if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
  }

  function refresh() {
    const q = query();
    if (q === null) { if (open) close(); return; }
    if (q === lastQuery && open) return;
    lastQuery = q;
    if (!open) { open = true; list.hidden = false; items = []; active = 0; render(true); }
    input.setAttribute("aria-expanded", "true");
    clearTimeout(timer);
    const mine = ++request;
    timer = setTimeout(async () => {
      try {
        const page = await api.cannedResponses({ inbox: inboxId(), q, limit: LIMIT });
        if (mine !== request) return;
        items = page.results || [];
        active = 0;
        render(false);
      } catch (_) {
        if (mine === request) { items = []; render(false); }
      }
    }, 120);
  }

  function insert(index) {
    const item = items[index];
    if (!item) return;
    const caret = input.selectionStart ?? input.value.length;
    const rest = input.value.slice(caret);
    input.value = item.content + rest;
    const at = item.content.length;
    input.setSelectionRange(at, at);
    close();
    input.focus();
    if (onInsert) onInsert();
  }

  input.addEventListener("input", refresh);
  input.addEventListener("click", refresh);
  input.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== input) close(); }, 150));
  form.addEventListener("keydown", (e) => {
    if (!open || e.target !== input || e.isComposing) return;
    const move = (delta) => {
      if (!items.length) return;
      active = (active + delta + items.length) % items.length;
      render(false);
    };
    let handled = true;
    if (e.key === "ArrowDown") move(1);
    else if (e.key === "ArrowUp") move(-1);
    else if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") {
      if (items.length) insert(active);
      else if (e.key === "Tab") close();
      // Enter with nothing to insert is swallowed: "/xyz" is a search, not a message to send.
    } else if (e.key === "Escape") close();
    else handled = false;
    if (handled) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);
  return { close, isOpen: () => open };
}
