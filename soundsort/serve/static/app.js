// soundsort's page: each chosen or dropped file goes to POST /v1/jobs (upload progress shown), its result
// comes back as a server-sent event, and is drawn: loudness envelope (decoded here, in the browser) with the
// music / non-music timeline over it, the segments as a table, the genre bars, JSON / CSV download links.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const SVG = "http://www.w3.org/2000/svg";
const ENVELOPE_BINS = 500;
const MAX_DECODE_BYTES = 150e6; // larger files are drawn without their envelope

function token() { return $("#token").value.trim(); }
function withToken(url) {
  const t = token();
  return t ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t) : url;
}
function options() {
  const q = new URLSearchParams();
  q.set("genre", $("#genre").checked ? "true" : "false");
  q.set("top_k", $("#top_k").value || "3");
  q.set("min_segment", $("#min_segment").value || "2");
  return q.toString();
}
function mmss(s) {
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(r).padStart(2, "0");
}

async function envelope(file) {
  if (file.size > MAX_DECODE_BYTES || !window.OfflineAudioContext) return null;
  try {
    const ctx = new OfflineAudioContext(1, 1, 22050);
    const audio = await ctx.decodeAudioData(await file.arrayBuffer());
    const y = audio.getChannelData(0), n = Math.max(1, Math.floor(y.length / ENVELOPE_BINS));
    const out = [];
    for (let b = 0; b < ENVELOPE_BINS && b * n < y.length; b++) {
      let sum = 0, end = Math.min(y.length, (b + 1) * n);
      for (let i = b * n; i < end; i++) sum += y[i] * y[i];
      out.push(Math.sqrt(sum / (end - b * n)));
    }
    const peak = Math.max(1e-9, ...out);
    return out.map(v => v / peak);
  } catch (e) {
    return null; // a format the browser cannot decode: the timeline is drawn alone
  }
}

function drawEnvelope(svg, env) {
  if (!env) return;
  const w = 1000 / env.length, mid = 60;
  let top = "", bottom = "";
  env.forEach((v, i) => { top += `L${(i * w).toFixed(1)},${(mid - v * 55).toFixed(1)}`; });
  for (let i = env.length - 1; i >= 0; i--) bottom += `L${(i * w).toFixed(1)},${(mid + env[i] * 55).toFixed(1)}`;
  $(".envelope", svg).setAttribute("d", "M0," + mid + top + bottom + "Z");
}

function render(item, record, jobId) {
  const res = $(".result", item);
  const svg = $("svg.timeline", item), g = $(".segments", svg);
  const dur = Math.max(record.duration, 1e-6);
  g.replaceChildren();
  for (const seg of record.timeline) {
    const r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", (1000 * seg.start / dur).toFixed(2));
    r.setAttribute("width", Math.max(0.5, 1000 * (seg.end - seg.start) / dur).toFixed(2));
    r.setAttribute("y", "0");
    r.setAttribute("height", "120");
    r.setAttribute("class", "segment " + seg.label);
    r.dataset.label = seg.label;
    r.dataset.start = seg.start;
    r.dataset.end = seg.end;
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${mmss(seg.start)}–${mmss(seg.end)} ${seg.label} (${seg.confidence.toFixed(2)})`;
    r.appendChild(title);
    g.appendChild(r);
  }
  const share = Math.round(100 * record.music_share);
  svg.setAttribute("aria-label", `timeline: ${record.timeline.length} segments, ${share}% music`);
  $(".t1", item).textContent = mmss(record.duration);
  $(".summary", item).textContent = `${share}% music · ${record.label}`;
  const genre = $(".genre", item);
  genre.replaceChildren();
  if (record.genre && record.genre.length) {
    const h = document.createElement("h3");
    h.textContent = "Genre (music parts)";
    genre.appendChild(h);
    for (const gn of record.genre) {
      const row = document.createElement("div");
      row.className = "genre-row";
      const pct = Math.round(100 * gn.probability);
      row.innerHTML = '<span class="genre-label"></span><div class="genre-bar" role="meter" aria-valuemin="0" ' +
        'aria-valuemax="100"><span></span></div><span class="genre-pct"></span>';
      $(".genre-label", row).textContent = gn.label;
      $(".genre-bar", row).setAttribute("aria-valuenow", String(pct));
      $(".genre-bar", row).setAttribute("aria-label", gn.label);
      $(".genre-bar span", row).style.width = pct + "%";
      $(".genre-pct", row).textContent = pct + "%";
      genre.appendChild(row);
    }
  } else {
    genre.textContent = record.genre === null && record.timeline.some(s => s.label === "music")
      ? "Genre: not analysed" : "Genre: no music";
  }
  const body = $(".segments-table tbody", item);
  body.replaceChildren();
  for (const seg of record.timeline) {
    const tr = document.createElement("tr");
    const g0 = seg.genre && seg.genre.length ? seg.genre[0].label : "";
    for (const v of [mmss(seg.start), mmss(seg.end), seg.label, seg.confidence.toFixed(2), g0]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  $("a.json", item).href = withToken(`/v1/jobs/${jobId}/results?format=json&download=true`);
  $("a.csv", item).href = withToken(`/v1/jobs/${jobId}/results?format=csv&download=true`);
  res.hidden = false;
}

function fail(item, text) {
  const state = $(".state", item);
  state.textContent = "Error: " + text;
  state.classList.add("error");
  $(".progress", item).hidden = true;
  item.dataset.state = "error";
}

function follow(item, jobId) {
  const state = $(".state", item);
  const got = record => {
    $(".progress", item).hidden = true;
    if (record.status !== "ok") { fail(item, record.error || "could not be analysed"); return; }
    state.textContent = `Done: ${mmss(record.duration)} analysed.`;
    render(item, record, jobId);
    item.dataset.state = "done";
  };
  const events = new EventSource(withToken(`/v1/jobs/${jobId}/events`));
  events.addEventListener("result", e => { got(JSON.parse(e.data).record); });
  events.addEventListener("done", () => events.close());
  events.onerror = () => {
    events.close();
    if (item.dataset.state !== "done" && item.dataset.state !== "error") poll(item, jobId, got);
  };
}

async function poll(item, jobId, got) { // when server-sent events are cut: ask until the job is done
  for (;;) {
    const r = await fetch(withToken(`/v1/jobs/${jobId}`));
    const body = await r.json().catch(() => ({}));
    if (!r.ok) { fail(item, body.error || `HTTP ${r.status}`); return; }
    if (body.state === "done") { got(body.results[0]); return; }
    await new Promise(ok => setTimeout(ok, 1000));
  }
}

function send(file) {
  const item = $("#file-template").content.firstElementChild.cloneNode(true);
  $(".name", item).textContent = file.name;
  $("svg.timeline", item).setAttribute("aria-label", "timeline of " + file.name);
  $("#results").appendChild(item);
  const state = $(".state", item), bar = $(".progress", item);
  item.dataset.state = "uploading";
  state.textContent = "Uploading…";
  envelope(file).then(env => drawEnvelope($("svg.timeline", item), env));
  const form = new FormData();
  form.append("files", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/jobs?" + options());
  if (token()) xhr.setRequestHeader("Authorization", "Bearer " + token());
  xhr.upload.onprogress = e => { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
  xhr.upload.onload = () => { bar.removeAttribute("value"); state.textContent = "Classifying…"; };
  xhr.onerror = () => fail(item, "the server could not be reached");
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status !== 202) { fail(item, body.error || `HTTP ${xhr.status}`); return; }
    item.dataset.state = "classifying";
    state.textContent = "Classifying…";
    follow(item, body.id);
  };
  xhr.send(form);
}

function sendAll(files) {
  const list = Array.from(files);
  $("#status").textContent = list.length ? `${list.length} file(s) sent.` : "";
  list.forEach(send);
}

const drop = $("#drop");
["dragenter", "dragover"].forEach(t => drop.addEventListener(t, e => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach(t => drop.addEventListener(t, e => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", e => sendAll(e.dataTransfer.files));
$("#files").addEventListener("change", e => { sendAll(e.target.files); e.target.value = ""; });
$("#choose").addEventListener("keydown", e => {
  if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#files").click(); }
});
fetch("/healthz").then(r => r.json()).then(h => { if (h.token_required) $("#token-row").hidden = false; })
  .catch(() => {});
