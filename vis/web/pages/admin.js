// The admin page: studies with their join links, closing, and creating one.
async function refresh() {
  const r = await api("/admin/api/studies");
  const body = document.querySelector("#studies tbody");
  body.innerHTML = "";
  for (const s of r.studies) {
    const tr = document.createElement("tr");
    const cells = s.error ? [s.id, s.error, "", "", "", "", ""] :
      [s.id, s.methods.join(", "), s.clips + " (" + s.videos + ")", s.trials + " (" + s.practice + " practice)",
       String(s.participants), location.origin + s.join, ""];
    cells.forEach((text, k) => {
      const td = document.createElement("td");
      if (k === 5 && !s.error) { const a = document.createElement("a"); a.href = s.join; a.textContent = text; td.append(a); }
      else td.textContent = text;
      tr.append(td);
    });
    if (!s.error) {
      const td = tr.lastChild;
      const a = document.createElement("a"); a.href = s.results; a.textContent = "results"; td.append(a, " ");
      if (s.closed) td.append("(closed)");
      else {
        const b = document.createElement("button"); b.textContent = "close";
        b.onclick = async () => { if (confirm("Close " + s.id + "? It will take no more answers.")) {
          await api("/admin/api/study/" + encodeURIComponent(s.id) + "/close", { method: "POST" }); refresh(); } };
        td.append(b);
      }
    }
    body.append(tr);
  }
  $("none").hidden = r.studies.length > 0;
  $("create").hidden = !r.can_create;
  $("cannot").hidden = r.can_create;
  $("data").textContent = r.data;
}

$("create").addEventListener("submit", async ev => {
  ev.preventDefault();
  showError(null);
  try {
    let job = await api("/admin/api/studies", { method: "POST", body: new FormData($("create")) });
    while (job.state === "queued" || job.state === "running") {
      $("status").textContent = job.stage + " (" + job.seconds + " s)";
      await new Promise(r => setTimeout(r, 1000));
      job = await api("/api/jobs/" + job.job);
    }
    if (job.state === "failed") throw new Error(job.error);
    $("status").textContent = "made " + job.study + ": " + job.clips + " clips";
    refresh();
  } catch (e) { $("status").textContent = ""; showError(e); }
});

refresh().catch(showError);
