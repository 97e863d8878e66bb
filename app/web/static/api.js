// The HTTP client: same-origin JSON calls with a timeout. Never throws for an HTTP status;
// returns {ok, status, data, detail} where `detail` is the server's error sentence.

const TIMEOUT_MS = 60_000;

export async function call(method, path, body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  // X-Spark-Client names the dashboard as the origin of a swap in the history.
  const init = { method, signal: controller.signal, headers: { Accept: "application/json", "X-Spark-Client": "dashboard" }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const response = await fetch(path, init);
    if (response.status === 401 && path !== "/api/session") {
      // API keys are configured and this browser has no session: log in, then come back.
      window.location.assign("/static/login.html");
    }
    let data = null;
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    const detail = response.ok
      ? null
      : (data && typeof data.detail === "string" && data.detail) || `${method} ${path} failed with HTTP ${response.status}.`;
    return { ok: response.ok, status: response.status, data, detail };
  } catch (err) {
    const detail = err && err.name === "AbortError" ? `${method} ${path} timed out.` : "Spark Control is not reachable.";
    return { ok: false, status: 0, data: null, detail };
  } finally {
    clearTimeout(timer);
  }
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const put = (path, body) => call("PUT", path, body);
export const del = (path) => call("DELETE", path);

/** A path segment from data (a model key, a job id): always encoded. */
export const seg = (value) => encodeURIComponent(String(value));
