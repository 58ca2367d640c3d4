// vis serve: fetch helpers shared by the pages.
async function api(url, options = {}) {
  const r = await fetch(url, options);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const detail = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail))
                                       : r.status + " " + r.statusText;
    const err = new Error(detail);
    err.status = r.status;
    throw err;
  }
  return body;
}
function $(id) { return document.getElementById(id); }
function pct(x) { return x === null || x === undefined ? "-" : (100 * x).toFixed(1) + " %"; }
function showError(e) { $("error").textContent = e ? (e.message || String(e)) : ""; }
