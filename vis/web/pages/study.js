// A participant's page: join, then practice trials (answer revealed), then the trials that count.
const sid = decodeURIComponent(location.pathname.split("/")[2]);
const base = "/study/" + encodeURIComponent(sid);
let state = null;

function headers() {
  const s = sessionStorage.getItem("vis-session-" + sid);
  return s ? { "X-Session": s } : {};
}
function media(trial, side) {  // the session travels in its cookie, never in an address
  return base + "/media/" + trial + "/" + side;
}
function show(id) {
  for (const x of ["intro", "trial", "done", "closed"]) $(x).hidden = x !== id;
}

async function load() {
  try {
    state = await api(base + "/api/state", { headers: headers() });
  } catch (e) {
    if (e.status === 401 || e.status === 403) { show("intro"); if (e.status === 403) showError(e); return; }
    throw e;
  }
  if (state.next === null) { show("done"); return; }
  if (state.closed) { show("closed"); return; }
  showTrial(state.next);
}

function showTrial(i) {
  const t = state.trials[i];
  const scored = state.trials.length - state.practice;
  $("counter").textContent = t.practice ? "Practice " + (i + 1) + " of " + state.practice
                                        : "Trial " + (i + 1 - state.practice) + " of " + scored;
  $("kind").textContent = t.practice ? "(we tell you the answer after you choose)" : "";
  $("left").src = media(i, "left");
  $("right").src = media(i, "right");
  $("feedback").hidden = true;
  $("next").hidden = true;
  $("choose-left").disabled = $("choose-right").disabled = false;
  document.body.dataset.trial = String(i);
  show("trial");
}

async function choose(side) {
  showError(null);
  const i = Number(document.body.dataset.trial);
  $("choose-left").disabled = $("choose-right").disabled = true;
  let r;
  try {
    r = await api(base + "/api/answer", {
      method: "POST", headers: { ...headers(), "Content-Type": "application/json" },
      body: JSON.stringify({ trial: i, choice: side }) });
  } catch (e) {
    showError(e);
    $("choose-left").disabled = $("choose-right").disabled = false;
    return;
  }
  state.trials[i].answer = r.choice;
  const go = () => (r.next === null ? show("done") : showTrial(r.next));
  if (r.real_side !== undefined) {
    const right = r.choice === r.real_side;
    $("feedback").className = "feedback " + (right ? "right" : "wrong");
    $("feedback").textContent = (right ? "Right: " : "Not this time: ") + "the " + r.real_side +
      " video had the real sound.";
    $("feedback").hidden = false;
    $("next").hidden = false;
    $("next").onclick = go;
  } else {
    go();
  }
}

$("begin").addEventListener("click", async () => {
  showError(null);
  try {
    const j = await api(base + "/api/join", { method: "POST" });
    sessionStorage.setItem("vis-session-" + sid, j.session);
    await load();
  } catch (e) { showError(e); }
});
$("choose-left").addEventListener("click", () => choose("left"));
$("choose-right").addEventListener("click", () => choose("right"));
(async () => {
  try {
    const about = await api(base + "/api/about");
    $("n-practice").textContent = about.practice;
    $("n-trials").textContent = about.trials;
    if (about.closed) { show("closed"); return; }
    await load();
  } catch (e) { showError(e); }
})();
