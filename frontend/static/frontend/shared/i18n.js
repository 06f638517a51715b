// The browser's words, dates and plurals in the reader's language (docs/i18n.md). Plain ES
// module, no build step: one catalogue per language (../i18n/<lang>.js), loaded with the page.
//
//   import { t, setLocale, formatTime, formatDay, renderActivity } from "../shared/i18n.js";
//   setLocale(boot.user.locale);                    // panel: the operator's profile
//   setLocale(chooseLocale({ embed, sdk }));        // widget: data-locale, $messenger.setLocale, navigator
//   t("panel.list.empty");                          // "No conversations here" / "Здесь нет диалогов"
//   t("common.messages_count", { count: 5 });       // "5 messages" / "5 сообщений"
//   formatDay(iso);                                 // "Today" / "Сегодня", "Yesterday" / "Вчера", else a date
//
// A missing key falls back to English, then to the key itself (visible, so a test or a reader
// notices); tests/test_i18n_catalogues.py keeps the catalogues complete and consistent.
import en from "../i18n/en.js";
import ru from "../i18n/ru.js";
import { ACTIVITY_KIND } from "./activity.js";

export const CATALOGUES = Object.freeze({ en, ru });
export const LANGUAGES = Object.freeze(Object.keys(CATALOGUES));
export const DEFAULT_LOCALE = "en";
export const CHANGE_EVENT = "i18n:change";

let current = DEFAULT_LOCALE;
let timeZone; // undefined: the browser's own zone
const pluralRules = new Map();
const formats = new Map();
const numberFormats = new Map();

/** "ru", "ru-RU", "RU_ru" -> "ru"; anything unsupported -> null. */
export function normalizeLocale(value) {
  if (typeof value !== "string" || !value || value.length > 35) return null;
  const code = value.trim().toLowerCase().replace("_", "-");
  if (LANGUAGES.includes(code)) return code;
  const base = code.split("-")[0];
  return LANGUAGES.includes(base) ? base : null;
}

/** The first supported of, in order: an explicit choice (SDK setLocale), the embed snippet's
 * data-locale, the browser's languages, the inbox's default, English. */
export function chooseLocale({ explicit, embed, languages, fallback } = {}) {
  const browser = languages ?? (typeof navigator !== "undefined" ? navigator.languages || [navigator.language] : []);
  for (const candidate of [explicit, embed, ...(browser || []), fallback]) {
    const code = normalizeLocale(candidate);
    if (code) return code;
  }
  return DEFAULT_LOCALE;
}

/** Speak ``value`` from now on (unsupported: English); sets <html lang> and tells listeners. */
export function setLocale(value) {
  const code = normalizeLocale(value) || DEFAULT_LOCALE;
  const changed = code !== current;
  current = code;
  if (typeof document !== "undefined") {
    document.documentElement.lang = code;
    if (changed) document.dispatchEvent(new CustomEvent(CHANGE_EVENT, { detail: { locale: code } }));
  }
  return code;
}

export function getLocale() {
  return current;
}

/** Dates and times in ``zone`` (an IANA name); undefined: the browser's. */
export function setTimeZone(zone) {
  timeZone = zone || undefined;
  formats.clear();
}

function plural(count) {
  let rules = pluralRules.get(current);
  if (!rules) pluralRules.set(current, (rules = new Intl.PluralRules(current)));
  return rules.select(count);
}

function lookup(catalogue, key, params) {
  const entry = catalogue[key];
  if (entry == null) return null;
  if (typeof entry === "string") return entry;
  // A plural entry: the form Intl.PluralRules picks for params.count ("other" as the fallback).
  const count = Number(params && params.count);
  return entry[plural(Number.isFinite(count) ? count : 0)] ?? entry.other ?? null;
}

/** Fill "{name}" placeholders; unknown ones stay as they are (visible, never "undefined"). */
export function interpolate(text, params) {
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (params[name] == null ? whole : String(params[name])));
}

/** The text for ``key`` in the current language, with ``params`` filled in. */
export function t(key, params) {
  const text = lookup(CATALOGUES[current], key, params) ?? lookup(en, key, params) ?? key;
  return interpolate(text, params);
}

/** Whether the catalogues know ``key`` (for optional texts). */
export function has(key) {
  return key in CATALOGUES[current] || key in en;
}

// --- Dates and times ----------------------------------------------------------------------------

function format(options) {
  const cacheKey = `${current}|${timeZone || ""}|${JSON.stringify(options)}`;
  let formatter = formats.get(cacheKey);
  if (!formatter) formats.set(cacheKey, (formatter = new Intl.DateTimeFormat(current, { ...options, timeZone })));
  return formatter;
}

function toDate(value) {
  if (value == null || value === "") return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "2026-12-03": the calendar day of ``date`` in the reader's time zone. */
function dayOf(date) {
  const parts = Object.fromEntries(
    format({ year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

function previousDay(day) {
  const [y, m, d] = day.split("-").map(Number);
  const date = new Date(Date.UTC(y, m - 1, d - 1));
  return date.toISOString().slice(0, 10);
}

/** The calendar day of ``value`` in the reader's zone ("2026-12-03"), to group by day; "" for none. */
export function dayKey(value) {
  const d = toDate(value);
  return d ? dayOf(d) : "";
}

/** A number as the language writes it ("1,234" / "1 234"). */
export function formatNumber(value, options) {
  const key = `${current}|${JSON.stringify(options || {})}`;
  let formatter = numberFormats.get(key);
  if (!formatter) numberFormats.set(key, (formatter = new Intl.NumberFormat(current, options)));
  return formatter.format(value);
}

/** "14:05" (24 h or 12 h as the language writes it). */
export function formatTime(value) {
  const d = toDate(value);
  return d ? format({ hour: "2-digit", minute: "2-digit" }).format(d) : "";
}

/** "Today" / "Yesterday" in the reader's zone, else the full date ("Tuesday, 1 December 2026"). */
export function formatDay(value, { now = new Date() } = {}) {
  const d = toDate(value);
  if (!d) return "";
  const day = dayOf(d);
  const today = dayOf(toDate(now));
  if (day === today) return t("time.today");
  if (day === previousDay(today)) return t("time.yesterday");
  return format({ weekday: "long", year: "numeric", month: "long", day: "numeric" }).format(d);
}

/** Date and time, e.g. for a snooze's end or a tooltip. */
export function formatDateTime(value) {
  const d = toDate(value);
  return d ? format({ dateStyle: "medium", timeStyle: "short" }).format(d) : "";
}

/** A short date without the year ("3 Dec" / "3 дек."), in the reader's zone. */
export function formatShortDate(value) {
  const d = toDate(value);
  return d ? format({ month: "short", day: "numeric" }).format(d) : "";
}

/** "now", "5m", "3h", "2d", else a short date: for lists. */
export function formatRelative(value, { now = Date.now() } = {}) {
  const d = toDate(value);
  if (!d) return "";
  const diff = Math.max(0, Number(now) - d.getTime());
  if (diff < 60_000) return t("time.relative.now");
  if (diff < 3_600_000) return t("time.relative.minutes", { count: Math.floor(diff / 60_000) });
  if (diff < 86_400_000) return t("time.relative.hours", { count: Math.floor(diff / 3_600_000) });
  if (diff < 7 * 86_400_000) return t("time.relative.days", { count: Math.floor(diff / 86_400_000) });
  return formatShortDate(d);
}

// --- Activity lines -----------------------------------------------------------------------------

const KINDS = new Set(Object.values(ACTIVITY_KIND));

function actorPhrase(actor) {
  const name = (actor && actor.name) || "";
  if (actor.type === "contact") return name ? t("activity.actor.contact", { name }) : t("activity.actor.contact_unnamed");
  return t("activity.actor.user", { name: name || t("activity.someone") });
}

const names = (value) => (Array.isArray(value) ? value.map(String) : []);

/** "+vip +refund −spam": label names are data, the same in every language (chat/activity.py). */
function labelChanges(attrs) {
  return [...names(attrs.added).map((n) => `+${n}`), ...names(attrs.removed).map((n) => `\u2212${n}`)].join(" ");
}

/** An activity message's line in the reader's language, from ``content_attributes.activity``
 * (the server's chat/activity.py renders the same); ``fallback`` (the stored content) for data
 * this version does not know. */
export function renderActivity(attrs, fallback = "") {
  if (!attrs || typeof attrs !== "object" || !KINDS.has(attrs.kind)) return fallback;
  const actor = attrs.actor && typeof attrs.actor === "object" ? attrs.actor : null;
  const minutes = Number.isInteger(attrs.minutes) ? attrs.minutes : 0;
  const params = {
    actor: actor ? actorPhrase(actor) : "",
    assignee: (attrs.assignee && attrs.assignee.name) || t("activity.someone"),
    until: attrs.until ? formatDateTime(attrs.until) : "",
    priority: has(`priority.${attrs.priority}`) ? t(`priority.${attrs.priority}`) : String(attrs.priority ?? ""),
    minutes: t("activity.minutes", { count: minutes }),
    changes: labelChanges(attrs),
  };
  return t(actor ? `activity.${attrs.kind}_by` : `activity.${attrs.kind}`, params);
}

/** A message's text for this reader: activity lines rendered from their data, others as sent. */
export function messageText(message) {
  const attrs = message && message.content_attributes;
  if (message && message.direction === "activity" && attrs && attrs.activity) {
    return renderActivity(attrs.activity, message.content || "");
  }
  return (message && message.content) || "";
}

// --- Static page text ---------------------------------------------------------------------------

/** Fill a template's static text from the catalogue: ``data-i18n="key"`` sets the element's
 * text, ``data-i18n-attr="placeholder:key; aria-label:key"`` its attributes. Templates keep the
 * English text inside as a fallback for a page whose script did not load. */
export function translateDom(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}
