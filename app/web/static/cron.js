// A human-readable rendering of common cron expressions ("0 6 * * 1-5" → "Weekdays at
// 06:00 UTC"). Returns null for anything it does not confidently understand; the raw
// expression is always shown next to it. The registry computes next runs in UTC.

const DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const DAY_SHORT = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTH_NAMES = [
  "January", "February", "March", "April", "May", "June",
  "July", "August", "September", "October", "November", "December",
];
const MONTH_KEYS = MONTH_NAMES.map((m) => m.slice(0, 3).toLowerCase());
const DAY_KEYS = DAY_SHORT.map((d) => d.toLowerCase());

const MACROS = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

function value(token, min, max, names) {
  const lower = token.toLowerCase();
  if (names && names.includes(lower)) return names.indexOf(lower) + min;
  if (!/^\d+$/.test(token)) return null;
  const n = Number(token);
  return n >= min && n <= max ? n : null;
}

/** {any, step, values} for one field, or null when it is not plain cron syntax. */
function field(text, min, max, names) {
  if (text === "*" || text === "?") return { any: true, step: null, values: null };
  const star = /^\*\/(\d+)$/.exec(text);
  if (star) {
    const step = Number(star[1]);
    if (step < 1 || step > max) return null;
    return { any: false, step, values: null };
  }
  const values = new Set();
  for (const part of text.split(",")) {
    const m = /^([a-z0-9]+)(?:-([a-z0-9]+))?(?:\/(\d+))?$/i.exec(part);
    if (!m) return null;
    const a = value(m[1], min, max, names);
    const b = m[2] === undefined ? a : value(m[2], min, max, names);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (a === null || b === null || b < a || step < 1) return null;
    for (let v = a; v <= b; v += step) values.add(v);
  }
  return { any: false, step: null, values: [...values].sort((x, y) => x - y) };
}

function list(words) {
  if (words.length <= 1) return words.join("");
  return `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}

function ordinal(n) {
  const rem = n % 100;
  if (rem >= 11 && rem <= 13) return `${n}th`;
  return `${n}${{ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th"}`;
}

const two = (n) => String(n).padStart(2, "0");

function contiguous(values) {
  return values.length > 2 && values.every((v, i) => i === 0 || v === values[i - 1] + 1);
}

function timePhrase(minute, hour) {
  if (minute.any && hour.any) return { text: "every minute", daily: false };
  if (minute.step && hour.any) return { text: `every ${minute.step} minutes`, daily: false };
  if (!minute.values) return null;
  if (hour.any) {
    if (minute.values.length === 1 && minute.values[0] === 0) return { text: "every hour, on the hour", daily: false };
    if (minute.values.length === 1) return { text: `every hour at :${two(minute.values[0])}`, daily: false };
    return { text: `every hour at ${list(minute.values.map((m) => `:${two(m)}`))}`, daily: false };
  }
  if (hour.step && minute.values.length === 1) {
    return { text: `every ${hour.step} hours at :${two(minute.values[0])}`, daily: false };
  }
  if (!hour.values) return null;
  if (minute.values.length === 1 && contiguous(hour.values)) {
    const m = two(minute.values[0]);
    const first = hour.values[0];
    const last = hour.values[hour.values.length - 1];
    return { text: `every hour from ${two(first)}:${m} to ${two(last)}:${m} UTC`, daily: false };
  }
  const times = [];
  for (const h of hour.values) for (const m of minute.values) times.push(`${two(h)}:${two(m)}`);
  if (times.length > 6) return null;
  return { text: `at ${list(times)} UTC`, daily: true };
}

function dayPhrase(dom, month, dow) {
  const parts = [];
  let days = null;
  if (!dow.any) {
    if (!dow.values) return null;
    const set = [...new Set(dow.values.map((d) => d % 7))].sort((x, y) => x - y);
    if (set.join() === "1,2,3,4,5") days = "on weekdays";
    else if (set.join() === "0,6") days = "on weekends";
    else if (set.length === 7) days = null;
    else if (set.length === 1) days = `on ${DAY_NAMES[set[0]]}s`;
    else days = `on ${list(set.map((d) => DAY_SHORT[d]))}`;
  }
  let dates = null;
  if (!dom.any && !month.any && dow.any && dom.values && month.values && dom.values.length === 1 && month.values.length === 1) {
    return `every year on ${dom.values[0]} ${MONTH_NAMES[month.values[0] - 1]}`;
  }
  if (!dom.any) {
    if (!dom.values || dom.values.length > 5) return null;
    dates = `on the ${list(dom.values.map(ordinal))}`;
  }
  if (dates && days) parts.push(`${dates} or ${days}`);
  else if (dates || days) parts.push(dates || days);
  if (!month.any) {
    if (!month.values) return null;
    if (!parts.length) parts.push("every day");
    parts.push(`in ${list(month.values.map((m) => (month.values.length > 2 ? MONTH_NAMES[m - 1].slice(0, 3) : MONTH_NAMES[m - 1])))}`);
  } else if (dates) {
    parts.push("of every month");
  }
  return parts.join(" ");
}

/** "0 6 * * *" → "Every day at 06:00 UTC"; null when not a common 5-field expression. */
export function describeCron(expression) {
  if (!expression || typeof expression !== "string") return null;
  let text = expression.trim();
  if (text.toLowerCase() in MACROS) text = MACROS[text.toLowerCase()];
  const fields = text.split(/\s+/);
  if (fields.length !== 5) return null;
  const minute = field(fields[0], 0, 59);
  const hour = field(fields[1], 0, 23);
  const dom = field(fields[2], 1, 31);
  const month = field(fields[3], 1, 12, MONTH_KEYS);
  const dow = field(fields[4], 0, 7, DAY_KEYS);
  if (!minute || !hour || !dom || !month || !dow) return null;
  if (dom.step || month.step || dow.step) return null;
  const time = timePhrase(minute, hour);
  const days = dayPhrase(dom, month, dow);
  if (!time || days === null) return null;
  let sentence;
  if (!days) sentence = time.daily ? `every day ${time.text}` : time.text;
  else sentence = `${time.text} ${days}`;
  if (days && time.daily) sentence = `${days} ${time.text}`;
  return sentence.charAt(0).toUpperCase() + sentence.slice(1);
}
