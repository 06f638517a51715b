// Support-desk pieces of the thread (DESIGN.md §11): who else is typing (a reply or a note: two
// agents should not answer at once), the visitor's unsent draft (sneak peek), message delete
// with a confirm, and attachments in the composer (button, drag and drop, paste) and in bubbles.
import { clear, h } from "../shared/dom.js";
import { formatNumber, t } from "../shared/i18n.js";
import { EPHEMERAL } from "../shared/protocol.js";
import { state } from "./state.js";

const operatorsTyping = new Map(); // conversation id -> Map(user id -> {name, private, until})
const drafts = new Map();          // conversation id -> {text, until}

/** A typing frame (either side); returns the parts to re-render. */
export function applyTypingFrame(type, cid, data, schedule) {
  const started = type === EPHEMERAL.TYPING_STARTED;
  const ms = (data.expires_in || 8) * 1000;
  if (started) setTimeout(() => schedule("typing", "list"), ms + 50);
  if (data.side === "contact") {
    if (started) {
      state.typing.set(cid, Date.now() + ms);
      if (typeof data.draft === "string") drafts.set(cid, { text: data.draft, until: Date.now() + ms });
    } else {
      state.typing.delete(cid);
      drafts.delete(cid);
    }
  } else if (data.user && data.user.id !== state.me.id) { // the typist's own other tabs: not news
    const people = operatorsTyping.get(cid) || new Map();
    if (started) people.set(data.user.id, { name: data.user.name, private: !!data.private, until: Date.now() + ms });
    else people.delete(data.user.id);
    operatorsTyping.set(cid, people);
  }
  schedule("typing", "list");
}

/** A message arrived: its sender is no longer typing; a visitor's message ends their draft. */
export function messageEndsTyping(cid, message) {
  if (message.direction === "incoming") drafts.delete(cid);
  const sender = message.sender;
  if (message.direction === "outgoing" && sender && sender.type === "user") {
    const people = operatorsTyping.get(cid);
    if (people) people.delete(sender.id);
  }
}

/** The operators-typing line and the draft, after the visitor's typing line. */
export function renderDeskTyping(anchor, cid) {
  let box = anchor.nextElementSibling;
  if (!box || !box.classList.contains("desk-typing")) {
    box = h("div", { class: "desk-typing" });
    anchor.after(box);
  }
  clear(box);
  const now = Date.now();
  const draft = drafts.get(cid);
  if (draft && draft.until > now && draft.text.trim()) {
    box.append(h("div", { class: "draft", dataset: { testid: "visitor-draft" }, title: t("panel.desk.draft_title") },
      h("span", { class: "draft-label" }, t("panel.desk.draft")), draft.text));
  }
  for (const person of (operatorsTyping.get(cid) || new Map()).values()) {
    if (person.until <= now) continue;
    box.append(h("div", { class: `op-typing${person.private ? " note" : ""}`, dataset: { testid: "operator-typing" } },
      t(person.private ? "panel.desk.writing_note" : "common.is_typing", { name: person.name || t("panel.desk.an_operator") })));
  }
  box.hidden = !box.firstChild;
}

// --- delete -------------------------------------------------------------------------------------

export const isDeleted = (m) => !!(m.content_attributes && m.content_attributes.deleted);

export function mayDelete(m) {
  if (m.id == null || m.direction === "activity" || isDeleted(m)) return false;
  if (state.me.role === "administrator") return true;
  return m.direction === "outgoing" && m.sender && m.sender.type === "user" && m.sender.id === state.me.id;
}

/** "Delete" → inline "Delete this message? Delete / Cancel" (no dialog to miss). */
export function deleteControl(m, onDelete) {
  if (!mayDelete(m)) return null;
  const slot = h("span", { class: "delete-slot" });
  const ask = () => {
    clear(slot).append(
      h("span", {}, t("panel.desk.delete_confirm")),
      h("button", { type: "button", class: "link danger", dataset: { testid: "confirm-delete" },
        onclick: () => { clear(slot).append(h("span", {}, t("panel.desk.deleting"))); onDelete(m); } }, t("panel.desk.delete")),
      h("button", { type: "button", class: "link", onclick: reset }, t("common.cancel")));
  };
  const reset = () => clear(slot).append(
    h("button", { type: "button", class: "link", dataset: { testid: "delete-message" }, "aria-label": t("panel.desk.delete_message"), onclick: ask }, t("panel.desk.delete")));
  reset();
  return slot;
}

export function deletedText() {
  return h("div", { class: "msg-text deleted", dataset: { testid: "deleted" } }, t("panel.desk.deleted"));
}

// --- attachments --------------------------------------------------------------------------------

export function formatSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return t("common.size.bytes", { size: formatNumber(n) });
  if (n < 1024 * 1024) return t("common.size.kb", { size: formatNumber(Number((n / 1024).toFixed(n < 10 * 1024 ? 1 : 0))) });
  return t("common.size.mb", { size: formatNumber(Number((n / 1024 / 1024).toFixed(1))) });
}

function safeUrl(url) {
  if (!url) return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch (_) {
    return null;
  }
}

/** Images as thumbnails (click: the full file in a new tab); other files as a download link. */
export function attachmentsView(m) {
  if (!m.attachments || !m.attachments.length) return null;
  return h("div", { class: "attachments" }, m.attachments.map((a) => {
    const url = safeUrl(a.url);
    if (!url) return null;
    const name = a.name || t("common.attachment");
    if (String(a.file_type).startsWith("image/")) {
      return h("a", { href: url, target: "_blank", rel: "noopener", class: "thumb", title: `${name} (${formatSize(a.size)})` },
        h("img", { src: url, alt: name, loading: "lazy" }));
    }
    return h("a", { href: url, target: "_blank", rel: "noopener", class: "file", download: name, dataset: { testid: "file-link" } },
      name, h("span", { class: "size" }, ` (${formatSize(a.size)})`));
  }));
}

/**
 * The composer's files: an "Attach" button (several files), drag and drop onto the composer,
 * images pasted into the text box. The server's policy decides what is accepted (its error is
 * shown on the bubble); nothing is checked here but the count.
 */
export function attachPicker(composer, input, { max = 15 } = {}) {
  let files = [];
  const urls = new WeakMap();
  const list = h("div", { class: "composer-files", hidden: true, dataset: { testid: "composer-files" } });
  const field = h("input", { type: "file", multiple: true, hidden: true, "aria-label": t("panel.desk.attach_files") });
  const button = h("button", { type: "button", class: "attach-btn", title: t("panel.desk.attach_title"),
    dataset: { testid: "attach" }, onclick: () => field.click() }, t("panel.desk.attach"));
  const render = () => {
    clear(list);
    files.forEach((file, index) => {
      let preview = null;
      if (file.type.startsWith("image/")) {
        if (!urls.has(file)) urls.set(file, URL.createObjectURL(file));
        preview = h("img", { src: urls.get(file), alt: "" });
      }
      list.append(h("span", { class: "file-chip" }, preview, `${file.name} · ${formatSize(file.size)}`,
        h("button", { type: "button", class: "link", "aria-label": t("panel.desk.remove_file", { name: file.name }),
          onclick: () => { files.splice(index, 1); render(); } }, "×")));
    });
    list.hidden = !files.length;
  };
  const add = (incoming) => {
    for (const file of incoming) if (files.length < max) files.push(file);
    render();
    input.focus();
  };
  field.addEventListener("change", () => { add([...field.files]); field.value = ""; });
  composer.addEventListener("dragover", (e) => {
    if (e.dataTransfer && [...e.dataTransfer.types].includes("Files")) { e.preventDefault(); composer.classList.add("dropping"); } // i18n-ignore: a drag data type
  });
  composer.addEventListener("dragleave", () => composer.classList.remove("dropping"));
  composer.addEventListener("drop", (e) => {
    composer.classList.remove("dropping");
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    add([...e.dataTransfer.files]);
  });
  input.addEventListener("paste", (e) => {
    const pasted = [...((e.clipboardData && e.clipboardData.files) || [])].filter((f) => f.type.startsWith("image/"));
    if (!pasted.length) return;
    e.preventDefault();
    add(pasted.map((f, i) => (f.name && f.name !== "image.png" ? f
      : new File([f], `pasted-${Date.now()}${i ? `-${i}` : ""}.${(f.type.split("/")[1] || "png").replace("jpeg", "jpg")}`, { type: f.type }))));
  });
  composer.prepend(list);
  return {
    button, field,
    take: () => { const taken = files; files = []; render(); return taken; },
    relabel: () => {
      field.setAttribute("aria-label", t("panel.desk.attach_files"));
      button.title = t("panel.desk.attach_title");
      button.textContent = t("panel.desk.attach");
      render();
    },
    count: () => files.length,
  };
}

/** A pending (not yet stored) bubble's files: names, and a preview for images. */
export function pendingFilesView(files) {
  if (!files || !files.length) return null;
  return h("div", { class: "attachments" }, files.map((f) => h("span", { class: "file" }, `${f.name} (${formatSize(f.size)})`)));
}
