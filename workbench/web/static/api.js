// Talking to the server. A token given once as ?token= is kept for this tab and sent with every call.
const params = new URLSearchParams(location.search);
if (params.get("token")) {
  sessionStorage.setItem("workbench-token", params.get("token"));
  params.delete("token");  // out of the address bar; the rest of it (the view) stays
  const rest = params.toString();
  history.replaceState(null, "", `${location.pathname}${rest ? `?${rest}` : ""}${location.hash}`);
}
export const token = () => sessionStorage.getItem("workbench-token");

export class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export async function api(path, { method = "GET", json, body } = {}) {
  // A custom header on every call: other sites can't send one without a CORS preflight (CSRF).
  const headers = { "X-Workbench-Client": "page" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: json !== undefined ? JSON.stringify(json) : body });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(errorText(data, response), response.status, data);
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
    xhr.open("POST", "/api/datasets");
    xhr.setRequestHeader("X-Workbench-Client", "page");
    if (token()) xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError((data && data.detail) || `upload failed (${xhr.status})`, xhr.status, data));
    };
    xhr.onerror = () => reject(new ApiError("upload failed: the server did not answer", 0, null));
    xhr.send(form);
  });
}
