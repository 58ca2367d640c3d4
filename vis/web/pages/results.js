// The results page: rate chosen as real per method, and per material and action, with Wilson intervals.
const sid = decodeURIComponent(location.pathname.split("/")[3]);

function bar(r) {
  const d = document.createElement("div");
  d.className = "bar";
  const half = document.createElement("div"); half.className = "half";
  if (r && r.n) {
    const fill = document.createElement("div"); fill.className = "fill"; fill.style.width = 100 * r.rate + "%";
    const ci = document.createElement("div"); ci.className = "ci";
    ci.style.left = 100 * r.lo + "%"; ci.style.width = 100 * (r.hi - r.lo) + "%";
    d.append(fill, ci);
  }
  d.append(half);
  return d;
}
function cell(r) {
  return r && r.n ? pct(r.rate) + " [" + (100 * r.lo).toFixed(1) + ", " + (100 * r.hi).toFixed(1) + "]" : "-";
}
function td(content) {
  const x = document.createElement("td");
  if (typeof content === "string") x.textContent = content; else x.append(content);
  return x;
}

function byLabel(id, rows, methods) {
  const head = document.querySelector("#" + id + " thead");
  head.innerHTML = "";
  const hr = document.createElement("tr");
  for (const text of [id].concat(methods)) { const th = document.createElement("th"); th.textContent = text; hr.append(th); }
  head.append(hr);
  const body = document.querySelector("#" + id + " tbody");
  body.innerHTML = "";
  for (const [label, by] of Object.entries(rows)) {
    const tr = document.createElement("tr");
    tr.append(td(label));
    for (const m of methods) {
      const r = by[m];
      const box = document.createElement("div");
      box.append(bar(r), cell(r) + (r ? " (n " + r.n + ")" : ""));
      tr.append(td(box));
    }
    body.append(tr);
  }
}

async function start() {
  $("sid").textContent = sid;
  $("csv").href = "/admin/study/" + encodeURIComponent(sid) + "/answers.csv";
  const r = await api("/admin/api/study/" + encodeURIComponent(sid) + "/results");
  $("summary").textContent = r.answers + " answers from " + r.participants + " participants (" + r.practice +
    " practice answers left out)" + (r.closed ? "; the study is closed." : ".");
  const body = document.querySelector("#methods tbody");
  for (const m of r.methods_order) {
    const x = r.methods[m];
    const tr = document.createElement("tr");
    tr.append(td(m), td(cell(x)), td(bar(x)), td(String(x.n)));
    body.append(tr);
  }
  byLabel("material", r.material, r.methods_order);
  byLabel("action", r.action, r.methods_order);
}

start().catch(showError);
