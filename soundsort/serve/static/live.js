// soundsort's live view: follow a stream URL (the server reads it) or this browser's microphone, through the
// /v1/live WebSocket; the events (soundsort stream --schema) are drawn as a scrolling timeline of the last
// two minutes, the segment now with its genre, and a table of the finished segments.
"use strict";
(() => {
  const q = sel => document.querySelector(sel);
  const SVG = "http://www.w3.org/2000/svg";
  const WINDOW = 120; // seconds shown
  let ws = null, mic = null, state = null;

  function clock(s) {
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(r).padStart(2, "0");
  }
  function genreText(top) { return (top || []).map(g => `${g.label} ${g.probability.toFixed(2)}`).join(", "); }
  function say(text, error = false) {
    const p = q("#live-status");
    p.textContent = text;
    p.classList.toggle("error", error);
  }
  function running(on) {
    q("#live-follow").disabled = on;
    q("#live-mic").disabled = on;
    q("#live-stop").hidden = !on;
  }

  function draw() {
    const g = q("#live-timeline .segments");
    g.replaceChildren();
    if (!state) return;
    const t1 = Math.max(state.position, WINDOW), t0 = t1 - WINDOW, x = t => ((t - t0) / WINDOW) * 1000;
    const segs = [...state.done];
    if (state.now) segs.push({ ...state.now, end: state.position, open: true });
    for (const s of segs) {
      if (s.end < t0) continue;
      const r = document.createElementNS(SVG, "rect");
      r.setAttribute("x", x(Math.max(s.start, t0)).toFixed(1));
      r.setAttribute("width", Math.max(0.5, x(s.end) - x(Math.max(s.start, t0))).toFixed(1));
      r.setAttribute("y", "0");
      r.setAttribute("height", "60");
      r.setAttribute("class", s.label + (s.open ? " open" : ""));
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${s.label} ${clock(s.start)}–${clock(s.end)}` + (s.genre ? ` (${genreText(s.genre)})` : "");
      r.appendChild(title);
      g.appendChild(r);
    }
    q("#live-t0").textContent = clock(t0);
    q("#live-t1").textContent = clock(t1);
    const now = q("#live-now");
    now.textContent = state.now
      ? `now: ${state.now.label} since ${clock(state.now.start)}` + (state.genre ? ` — ${genreText(state.genre)}` : "")
      : "";
  }

  function onEvent(ev) {
    state.position = Math.max(state.position, ev.position || 0);
    switch (ev.event) {
      case "start": say(`following ${ev.source} (${ev.sr} Hz)`); break;
      case "segment_start": state.now = ev; state.genre = null; break;
      case "genre": state.genre = ev.genre; break;
      case "segment_end": {
        state.done.push(ev);
        state.now = null;
        if (state.done.length > 500) state.done.shift();
        const row = document.createElement("tr");
        for (const text of [clock(ev.start), clock(ev.end), ev.label, ev.confidence.toFixed(2), genreText(ev.genre)]) {
          const td = document.createElement("td");
          td.textContent = text;
          row.appendChild(td);
        }
        q("#live-segments tbody").prepend(row);
        break;
      }
      case "reconnect": say(`reconnecting (${ev.reason}), attempt ${ev.attempt}`); break;
      case "error": say(ev.message, ev.fatal); break;
      case "end": say(`ended at ${clock(ev.position)}: ${ev.reason}`, ev.reason === "error"); running(false); break;
    }
    draw();
  }

  function open(params) {
    const qs = new URLSearchParams(params);
    qs.set("genre", q("#genre") && !q("#genre").checked ? "false" : "true");
    const t = q("#token") ? q("#token").value.trim() : "";
    if (t) qs.set("token", t);
    state = { position: 0, now: null, genre: null, done: [] };
    q("#live-segments tbody").replaceChildren();
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/live?" + qs);
    ws.binaryType = "arraybuffer";
    ws.onmessage = m => onEvent(JSON.parse(m.data));
    ws.onclose = e => {
      running(false);
      stopMic();
      if (e.code === 1008 && e.reason) say(e.reason, true);
      ws = null;
    };
    ws.onerror = () => say("the connection to the server failed", true);
    running(true);
    draw();
    return ws;
  }

  function stopMic() {
    if (!mic) return;
    mic.node.disconnect();
    mic.source.disconnect();
    mic.stream.getTracks().forEach(t => t.stop());
    mic.ctx.close();
    mic = null;
  }

  async function startMic() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false } });
    } catch (e) {
      say("no microphone: " + e.message, true);
      return;
    }
    const ctx = new AudioContext();
    const source = ctx.createMediaStreamSource(stream);
    const node = ctx.createScriptProcessor(4096, 1, 1);
    mic = { ctx, source, node, stream };
    const sock = open({});
    sock.onopen = () => sock.send(JSON.stringify({ sr: ctx.sampleRate }));
    node.onaudioprocess = e => {
      if (sock.readyState === WebSocket.OPEN) sock.send(new Float32Array(e.inputBuffer.getChannelData(0)).buffer);
    };
    source.connect(node);
    node.connect(ctx.destination);
    say("listening to the microphone");
  }

  q("#live-follow").addEventListener("click", () => {
    const url = q("#live-url").value.trim();
    if (!/^https?:\/\//i.test(url)) { say("give an http(s):// stream URL", true); return; }
    open({ url });
  });
  q("#live-mic").addEventListener("click", startMic);
  q("#live-stop").addEventListener("click", () => {
    if (!ws) return;
    if (mic) { stopMic(); ws.send(JSON.stringify({ end: true })); } else ws.close();
    say("stopping…");
  });
})();
