// The participant's page: consent and volume check, then one question at a time from /api/state.
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const LABELS = ["A much better", "A slightly better", "No preference", "B slightly better", "B much better"];
let current = null;

function $(id) { return document.getElementById(id); }
function show(id) { for (const s of ["consent", "question", "done"]) $(s).hidden = s !== id; }
function fail(message) { $("error").textContent = message; $("error").hidden = false; }

async function api(path, body) {
  const options = body === undefined ? {} :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  $("error").hidden = true;
  return data;
}

function buildScale(name) {
  const box = $("scale-" + name);
  LABELS.forEach((label, i) => {
    const item = document.createElement("label");
    item.innerHTML = `<input type="radio" name="${name}" value="${i + 1}" required>${label}`;
    box.appendChild(item);
  });
}

function render(state) {
  current = state;
  if (state.stage === "consent") {
    $("attention-quality").textContent = `"${LABELS[state.attention_answer.quality - 1]}"`;
    $("attention-blending").textContent = `"${LABELS[state.attention_answer.blending - 1]}"`;
    $("volume-audio").src = state.volume_check;
    show("consent");
  } else if (state.stage === "question") {
    const q = state.question;
    $("progress").textContent = `Question ${state.k} of ${state.n}`;
    $("answer-form").reset();
    const stimuli = q.references.concat(q.blends);
    document.querySelectorAll("button.clip").forEach((button) => {
      button.dataset.stimulus = stimuli[Number(button.dataset.slot)];
      button.classList.toggle("played", q.played.includes(button.dataset.stimulus));
    });
    updateSubmit(q.played);
    show("question");
  } else {
    $("code").textContent = state.code;
    show("done");
  }
}

function updateSubmit(played) {
  const all = current.question.references.concat(current.question.blends).every((s) => played.includes(s));
  $("submit").disabled = !all;
  $("hint").hidden = all;
}

async function playClip(button) {
  const player = $("player");
  player.src = "/audio/" + button.dataset.stimulus;
  player.onplaying = async () => {
    player.onplaying = null;
    try {
      const result = await api("/api/play",
        { token, question: current.question.id, stimulus: button.dataset.stimulus });
      current.question.played = result.played;
      button.classList.add("played");
      updateSubmit(result.played);
    } catch (error) { fail(error.message); }
  };
  try { await player.play(); } catch (error) { fail("could not play the clip: " + error.message); }
}

async function main() {
  buildScale("quality");
  buildScale("blending");
  $("agree").onchange = () => { $("start").disabled = !($("agree").checked && $("volume-ok").checked); };
  $("volume-ok").onchange = $("agree").onchange;
  $("play-volume").onclick = async () => {
    try {
      await $("volume-audio").play();
      $("volume-ok").disabled = false;
    } catch (error) { fail(error.message); }
  };
  $("start").onclick = async () => {
    try { render(await api("/api/start", { token })); } catch (error) { fail(error.message); }
  };
  document.querySelectorAll("button.clip").forEach((b) => { b.onclick = () => playClip(b); });
  $("answer-form").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData($("answer-form"));
    $("submit").disabled = true;
    try {
      render(await api("/api/answer", { token, question: current.question.id,
        quality: Number(form.get("quality")), blending: Number(form.get("blending")) }));
    } catch (error) { fail(error.message); updateSubmit(current.question.played); }
  };
  try {
    render(await api("/api/state?token=" + encodeURIComponent(token)));
  } catch (error) { fail(error.message); }
}
main();
