// Talking to the server. A token given once as ?token= is kept for this tab and sent with every call.
const params = new URLSearchParams(location.search);
if (params.get("token")) {
  sessionStorage.setItem("workbench-token", params.get("token"));
  params.delete("token");  // out of the address bar; the rest of it (the view) stays
  const rest = params.toString();
  history.replaceState(null, "", `${location.pathname}${rest ? `?${rest}` : ""}${location.hash}`);
}
export const token = () => sessionStorage.getItem("workbench-token");
// With accounts on, a kept shared token grants nothing: it is dropped so the session cookie speaks alone.
export const forgetToken = () => sessionStorage.removeItem("workbench-token");

// Told of every 401 (accounts.js: the session ended, back to the sign-in screen) with when the refused
// call was sent (a call sent before a sign-in says nothing of the new session); answers of
// /api/session itself are the sign-in form's to tell.
let unauthorized = () => {};
export function onUnauthorized(handler) { unauthorized = handler; }
const heard401 = (path, status, sent) => { if (status === 401 && !path.startsWith("/api/session")) unauthorized(sent); };
// The live socket, opened at `opened`, closed as 401 (code 4401: its session ended while open).
export const socketRefused = (opened) => unauthorized(opened);

// The headers every call carries: the CSRF header and, given one, the token (the session is a cookie).
export function authHeaders() {
  const headers = { "X-Workbench-Client": "page" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  return headers;
}

export class ApiError extends Error {
  constructor(message, status, body, retryAfter = null) {
    super(message);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;  // the Retry-After header of a 429, as sent
  }
}

export async function api(path, { method = "GET", json, body } = {}) {
  // A custom header on every call: other sites can't send one without a CORS preflight (CSRF).
  // Same-origin fetch sends the session cookie by default.
  const headers = authHeaders();
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const sent = performance.now();
  const response = await fetch(path, { method, headers, body: json !== undefined ? JSON.stringify(json) : body });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    heard401(path, response.status, sent);
    throw new ApiError(errorText(data, response), response.status, data, response.headers.get("Retry-After"));
  }
  return data;
}

function errorText(data, response) {
  const detail = data && data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.length) {
    const first = detail[0];
    return `${(first.loc || []).slice(1).join(".")}: ${first.msg}`;
  }
  return `${response.status} ${response.statusText}`;
}

export function withToken(url) {
  if (!token()) return url;
  return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token())}`;
}

// Upload with progress (fetch can't report upload progress). idField: the field holding the ids.
export function upload(file, onProgress, { idField = null } = {}) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name);
    if (idField) form.append("id_field", idField);
    const xhr = new XMLHttpRequest();
    const sent = performance.now();
    xhr.open("POST", "/api/datasets");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) { resolve(data); return; }
      heard401("/api/datasets", xhr.status, sent);
      reject(new ApiError((data && data.detail) || `upload failed (${xhr.status})`, xhr.status, data));
    };
    xhr.onerror = () => reject(new ApiError("upload failed: the server did not answer", 0, null));
    xhr.send(form);
  });
}

// A download through fetch (with the headers every call carries), so a refusal ("no golden examples
// yet", a role too low) is an ApiError to show rather than a saved file of JSON.
export async function download(url, fallback = "export") {
  const sent = performance.now();
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    heard401(url, response.status, sent);
    throw new ApiError(data.detail || `export failed (${response.status})`, response.status, data);
  }
  const blob = await response.blob();
  const name = (response.headers.get("content-disposition") || "").match(/filename="?([^";]+)"?/);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name ? name[1] : fallback;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
