// The login form: posts the key to /api/session (which sets an HttpOnly session cookie the
// page itself never sees), then returns to the dashboard. The key is not kept anywhere.
import { call } from "./api.js";

const form = document.getElementById("login");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("key");
  const result = await call("POST", "/api/session", { key: input.value });
  input.value = "";
  if (result.ok) {
    window.location.assign("/");
    return;
  }
  error.textContent = result.detail;
  error.hidden = false;
});
