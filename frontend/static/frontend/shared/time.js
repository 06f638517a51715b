// Time formatting for lists and threads, in the reader's language and time zone: thin names over
// shared/i18n.js (Intl.DateTimeFormat, the catalogues' "now", "5m", "Today", "Yesterday").
import { dayKey as readerDayKey, formatDateTime, formatDay, formatRelative, formatTime, t } from "./i18n.js";

const MINUTE = 60_000, HOUR = 3_600_000, DAY = 86_400_000;

export function parse(iso) {
  return iso ? new Date(iso) : null;
}

/** "now", "5m", "3h", "2d", else a short date. */
export function relative(iso, now = Date.now()) {
  return formatRelative(iso, { now });
}

/** How long since ``iso``: "<1m", "5m", "2h 10m", "3d". */
export function duration(iso, now = Date.now()) {
  const d = parse(iso);
  if (!d) return "";
  const diff = Math.max(0, now - d.getTime());
  if (diff < MINUTE) return t("time.duration.under_minute");
  if (diff < HOUR) return t("time.relative.minutes", { count: Math.floor(diff / MINUTE) });
  if (diff < DAY) return t("time.duration.hours_minutes", { hours: Math.floor(diff / HOUR), minutes: Math.floor((diff % HOUR) / MINUTE) });
  return t("time.relative.days", { count: Math.floor(diff / DAY) });
}

/** "5 minutes ago"-style for a contact's last activity: "just now", "5m ago", else a date. */
export function ago(iso, now = Date.now()) {
  const d = parse(iso);
  if (!d) return "";
  const diff = Math.max(0, now - d.getTime());
  if (diff < MINUTE) return t("time.just_now");
  if (diff < 7 * DAY) return t("time.ago", { time: relative(iso, now) });
  return relative(iso, now);
}

export function clock(iso) {
  return formatTime(iso);
}

/** The day in the reader's zone, to group messages under day separators. */
export function dayKey(iso) {
  return readerDayKey(iso);
}

/** "Today", "Yesterday" (in the reader's zone), else the full date. */
export function dayLabel(iso) {
  return formatDay(iso);
}

export function full(iso) {
  return formatDateTime(iso);
}
