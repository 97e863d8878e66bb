// Formatting of sizes, times and durations for people.

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

export function gib(mib) {
  if (mib === null || mib === undefined) return "—";
  return `${(mib / 1024).toFixed(mib >= 10240 ? 0 : 1)} GiB`;
}

export function num(value, digits = 0, suffix = "") {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  return `${Number(value).toFixed(digits)}${suffix}`;
}

export function parseTime(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

const sameDayFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const otherDayFmt = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
});

/** Local absolute time; the date is shown only when it is not today. */
export function absolute(iso) {
  const t = parseTime(iso);
  if (t === null) return iso ? String(iso) : "—";
  const d = new Date(t);
  return d.toDateString() === new Date().toDateString() ? sameDayFmt.format(d) : otherDayFmt.format(d);
}

export function clockTime(iso) {
  const t = parseTime(iso);
  return t === null ? "—" : sameDayFmt.format(new Date(t));
}

/** "in 3 h 12 min", "5 min ago", "just now". */
export function relative(iso, now = Date.now()) {
  const t = parseTime(iso);
  if (t === null) return "";
  const diff = Math.round((t - now) / 1000);
  const span = Math.abs(diff);
  if (span < 5) return "just now";
  const text = duration(span);
  return diff > 0 ? `in ${text}` : `${text} ago`;
}

/** 75 → "1 min 15 s", 4000 → "1 h 6 min", 200000 → "2 d 7 h". */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    return s % 60 && m < 10 ? `${m} min ${s % 60} s` : `${m} min`;
  }
  if (s < 86400) {
    const hours = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return m ? `${hours} h ${m} min` : `${hours} h`;
  }
  const d = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  return hours ? `${d} d ${hours} h` : `${d} d`;
}

/** A countdown "4:05" / "1:02:03". */
export function countdown(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** Elapsed seconds between two ISO times (or until now). */
export function elapsed(startIso, endIso) {
  const a = parseTime(startIso);
  const b = endIso ? parseTime(endIso) : Date.now();
  return a === null || b === null ? null : Math.max(0, (b - a) / 1000);
}
