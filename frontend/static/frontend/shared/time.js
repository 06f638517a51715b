// Time formatting for lists and threads (local time zone of the browser).

const MINUTE = 60_000, HOUR = 3_600_000, DAY = 86_400_000;

export function parse(iso) {
  return iso ? new Date(iso) : null;
}

export function relative(iso, now = Date.now()) {
  const d = parse(iso);
  if (!d) return "";
  const diff = Math.max(0, now - d.getTime());
  if (diff < MINUTE) return "now";
  if (diff < HOUR) return `${Math.floor(diff / MINUTE)}m`;
  if (diff < DAY) return `${Math.floor(diff / HOUR)}h`;
  if (diff < 7 * DAY) return `${Math.floor(diff / DAY)}d`;
  return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

export function duration(iso, now = Date.now()) {
  const d = parse(iso);
  if (!d) return "";
  const diff = Math.max(0, now - d.getTime());
  if (diff < MINUTE) return "<1m";
  if (diff < HOUR) return `${Math.floor(diff / MINUTE)}m`;
  if (diff < DAY) return `${Math.floor(diff / HOUR)}h ${Math.floor((diff % HOUR) / MINUTE)}m`;
  return `${Math.floor(diff / DAY)}d`;
}

export function clock(iso) {
  const d = parse(iso);
  return d ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) : "";
}

export function dayKey(iso) {
  const d = parse(iso);
  return d ? `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}` : "";
}

export function dayLabel(iso) {
  const d = parse(iso);
  if (!d) return "";
  const today = new Date();
  const yesterday = new Date(today.getTime() - DAY);
  if (dayKey(iso) === dayKey(today.toISOString())) return "Today";
  if (dayKey(iso) === dayKey(yesterday.toISOString())) return "Yesterday";
  return d.toLocaleDateString(undefined, { weekday: "long", month: "long", day: "numeric", year: "numeric" });
}

export function full(iso) {
  const d = parse(iso);
  return d ? d.toLocaleString() : "";
}
