// The demo page: upload (with progress), then poll the job until the video with sound is ready.
let info = null;

async function start() {
  info = await api("/api/info");
  $("max-mb").textContent = Math.round(info.max_upload / 1e6);
  $("types").textContent = info.types.map(t => t.slice(1)).join(", ");
  $("model").textContent = info.model || "none loaded: start with vis serve --model RUN";
  $("go").disabled = !info.model;
  if (info.threshold !== null) {  // a model with an impact detector: empty keeps its fitted thresholds
    const slow = info.threshold_low_rate === null ? "" : ", " + info.threshold_low_rate + " under 20 fps";
    $("threshold").placeholder = "fitted: " + info.threshold + slow;
    $("threshold-row").hidden = false;
  }
}

function upload(file, method) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const threshold = $("threshold-row").hidden || !$("threshold").value ? "" : "&threshold=" + $("threshold").value;
    xhr.open("POST", "/api/jobs?method=" + encodeURIComponent(method) + threshold);
    xhr.setRequestHeader("X-Filename", encodeURIComponent(file.name));  // headers carry Latin-1 only
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = e => {
      if (e.lengthComputable) $("status").textContent = "uploading " + Math.round(100 * e.loaded / e.total) + " %";
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new Error(body && body.detail ? body.detail : "upload refused (" + xhr.status + ")"));
    };
    xhr.onerror = () => reject(new Error("the upload failed (connection lost)"));
    xhr.send(file);
  });
}

async function poll(id) {
  for (;;) {
    const job = await api("/api/jobs/" + id);
    $("status").textContent = "job " + id + ": " + job.stage + " (" + job.seconds + " s)";
    if (job.state === "done") return job;
    if (job.state === "failed") throw new Error(job.error);
    await new Promise(r => setTimeout(r, 500));
  }
}

$("form").addEventListener("submit", async ev => {
  ev.preventDefault();
  showError(null);
  $("result").hidden = true;
  const file = $("file").files[0];
  if (!file) { showError("choose a video first"); return; }
  if (file.size > info.max_upload) { showError(file.name + " is over the " + $("max-mb").textContent + " MB limit"); return; }
  const method = document.querySelector("input[name=method]:checked").value;
  $("go").disabled = true;
  try {
    const job = await poll((await upload(file, method)).job);
    const thr = job.threshold === null ? "" : ", threshold " + job.threshold;
    $("status").textContent = "done: " + job.impacts + " impacts over " + job.duration + " s (" + job.method + thr + ")";
    $("out").src = job.video;
    $("download").href = job.video;
    $("png").src = job.png;
    $("result").hidden = false;
  } catch (e) {
    $("status").textContent = "";
    showError(e);
  } finally {
    $("go").disabled = false;
  }
});

start().catch(showError);
