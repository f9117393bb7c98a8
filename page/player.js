// VoiceDesk's answer player (st.components.v2): PCM16 mono chunks from the page's stream
// socket, scheduled back to back with Web Audio as they arrive. One player per tab, kept on
// window, so reruns that redraw the component neither reconnect nor cut the answer off.
// Barge-in: pressing record, sending a typed question or "Stop speaking" silences it at once
// and tells the server, which stops sending (and generating) that answer.

const LEAD_S = 0.03; // scheduling margin after an underrun, so a chunk never starts late

function createPlayer() {
  const p = {
    socket: null, token: null, path: null, rate: 24000, ctx: null, out: null,
    turn: null, muted: true, ended: true, nextTime: 0, sources: new Set(), carry: null,
    told: false, buttons: new Set(),
    stats: {
      connected: false, state: "idle", turn: null, chunks: 0, scheduledSamples: 0,
      firstStartWall: null, lastStopWall: null, stops: 0,
    },
  };

  const wall = () => performance.timeOrigin + performance.now();

  p.setState = (state) => {
    p.stats.state = state;
    for (const b of p.buttons) b.hidden = state !== "speaking";
    if (state !== "speaking" && p.onQuiet) { // live mode waits for this to redraw the page
      const then = p.onQuiet;
      p.onQuiet = null;
      then();
    }
  };

  p.context = () => {
    if (!p.ctx) {
      p.ctx = new AudioContext({ sampleRate: p.rate });
      p.out = p.ctx.createGain();
      p.out.connect(p.ctx.destination);
      p.ctx.onstatechange = () => p.tellPlayed();
    }
    if (p.ctx.state === "suspended" && !p.ducked) p.ctx.resume().catch(() => {});
    return p.ctx;
  };

  p.send = (message) => {
    if (p.socket && p.socket.readyState === WebSocket.OPEN) p.socket.send(JSON.stringify(message));
  };

  // The server waits for this before deciding not to play the whole answer itself.
  p.tellPlayed = () => {
    if (!p.told && p.turn !== null && p.stats.chunks > 0 && p.ctx && p.ctx.state === "running") {
      p.told = true;
      p.send({ type: "played", turn: p.turn });
    }
  };

  p.connect = () => {
    if (p.socket || !p.token || !p.path) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${p.path}`);
    const token = p.token;
    p.token = null; // one use
    socket.binaryType = "arraybuffer";
    socket.onopen = () => socket.send(JSON.stringify({ type: "hello", token }));
    socket.onmessage = (event) => p.receive(event.data);
    socket.onclose = () => {
      if (p.socket === socket) p.socket = null;
      p.stats.connected = false;
    };
    p.socket = socket;
  };

  p.receive = (data) => {
    if (typeof data !== "string") {
      if (!p.muted) p.schedule(data);
      return;
    }
    let message;
    try { message = JSON.parse(data); } catch { return; }
    if (message.type === "ready") p.stats.connected = true;
    else if (message.type === "start") {
      p.silence(); // a new answer replaces whatever was left of the last one
      p.liveItem = null; p.unduck();
      p.turn = message.turn; p.stats.turn = message.turn;
      p.muted = false; p.ended = false; p.told = false; p.carry = null;
      p.context();
    } else if (message.type === "end" && message.turn === p.turn) {
      p.ended = true;
      if (!p.sources.size) p.setState("idle");
    }
  };

  p.schedule = (data) => {
    let bytes = new Uint8Array(data);
    if (p.carry) { // an odd byte left from the last chunk
      const joined = new Uint8Array(p.carry.length + bytes.length);
      joined.set(p.carry); joined.set(bytes, p.carry.length); bytes = joined; p.carry = null;
    }
    const count = bytes.length >> 1;
    if (bytes.length % 2) p.carry = bytes.slice(bytes.length - 1);
    if (!count) return;
    const view = new DataView(bytes.buffer, bytes.byteOffset, count * 2);
    const samples = new Float32Array(count);
    for (let i = 0; i < count; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
    const ctx = p.context();
    const buffer = ctx.createBuffer(1, count, p.rate);
    buffer.copyToChannel(samples, 0);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(p.out);
    const now = ctx.currentTime;
    const item = p.liveItem;
    if (p.nextTime < now + 0.005) { // first chunk, or an underrun
      if (item && item.start !== null) item.gap += now + LEAD_S - p.nextTime;
      p.nextTime = now + LEAD_S;
    }
    if (item && item.start === null) item.start = p.nextTime;
    if (item) item.samples += count;
    source.start(p.nextTime);
    p.nextTime += count / p.rate;
    p.sources.add(source);
    source.onended = () => {
      p.sources.delete(source);
      if (!p.sources.size && p.ended) p.setState("idle");
    };
    if (p.stats.firstStartWall === null) p.stats.firstStartWall = wall();
    p.stats.chunks += 1;
    p.stats.scheduledSamples += count;
    p.setState("speaking");
    p.tellPlayed();
  };

  p.silence = () => {
    for (const source of p.sources) {
      source.onended = null;
      try { source.stop(); } catch { /* not started yet */ }
      source.disconnect();
    }
    p.sources.clear();
    p.nextTime = 0;
  };

  // Barge-in: silent now; the server stops this answer.
  p.stop = (why) => {
    const playing = p.sources.size > 0 || (!p.muted && !p.ended);
    if (!playing) return false;
    p.silence();
    p.muted = true;
    p.stats.stops += 1;
    p.stats.lastStopWall = wall();
    p.stats.stopReason = why;
    p.send({ type: "stop", turn: p.turn });
    p.setState("stopped");
    return true;
  };

  // Capture phase: before Streamlit's own handlers, so the answer is silent at the press.
  const RECORD = '[data-testid="stAudioInput"] button';
  const SEND = '[data-testid="stChatInputSubmitButton"]';
  // Record on pointerdown (the earliest moment); send on click, as the send button moves when
  // "Stop speaking" goes away, and the press must still land on it.
  document.addEventListener("pointerdown", (event) => {
    if (p.ctx) p.context(); // a gesture: the browser lets the audio start
    const target = event.target instanceof Element ? event.target : null;
    if (target && target.closest(RECORD)) p.stop("pressed");
  }, true);
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (target && target.closest(SEND)) p.stop("typed");
  }, true);
  document.addEventListener("keydown", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const typed = event.key === "Enter" && !event.shiftKey
      && target.closest('[data-testid="stChatInput"]') && (target.value || "").trim();
    const pressed = (event.key === "Enter" || event.key === " ") && target.closest(RECORD);
    if (typed || pressed) p.stop(typed ? "typed" : "pressed");
  }, true);

  // Live mode (page/live.js) plays its answers here too, one conversation item at a time.
  p.liveItem = null; p.ducked = false;
  p.liveBegin = (id) => {
    p.silence(); p.unduck();
    p.liveItem = { id, start: null, gap: 0, samples: 0 };
    p.turn = null; p.muted = false; p.ended = false; p.told = true; p.carry = null;
    p.context();
  };
  p.liveChunk = (data) => { if (p.liveItem && !p.muted) p.schedule(data); };
  p.liveEnd = () => {
    p.ended = true;
    if (!p.sources.size) p.setState("idle");
  };
  p.audible = () => p.sources.size > 0 && !p.muted && !p.ducked;
  // How much of the current live answer the person heard: the truncation point.
  p.playedMs = () => {
    const item = p.liveItem;
    if (!item || item.start === null || !p.ctx) return 0;
    const heard = Math.max(0, p.ctx.currentTime - item.start - item.gap);
    return Math.round(Math.min(heard, item.samples / p.rate) * 1000);
  };
  // The microphone heard speech over the answer: silent now, nothing lost (the clock of the
  // context stops), until the server says it was an interruption (liveStop) or not (unduck).
  p.duck = () => {
    if (!p.ctx || p.ducked) return;
    p.ducked = true;
    p.stats.ducks = (p.stats.ducks || 0) + 1;
    p.stats.lastDuckWall = wall();
    p.out.gain.setValueAtTime(0, p.ctx.currentTime);
    // Suspended after the silence reached the output, so nothing is left sounding in it.
    p.duckTimer = setTimeout(() => { if (p.ducked) p.ctx.suspend().catch(() => {}); }, 25);
  };
  p.unduck = () => {
    if (!p.ducked) return;
    p.ducked = false;
    clearTimeout(p.duckTimer);
    const ctx = p.ctx;
    ctx.resume().catch(() => {}).then(() => { if (!p.ducked) p.out.gain.setValueAtTime(1, ctx.currentTime); });
  };
  p.liveStop = (why) => {
    const ms = p.playedMs();
    p.stop(why);
    p.liveItem = null;
    p.unduck();
    return ms;
  };

  p.api = { stats: p.stats, stop: () => p.stop("api") };
  return p;
}

export default function (component) {
  const { data, parentElement } = component;
  const p = window.__voicedeskPlayer || (window.__voicedeskPlayer = createPlayer());
  window.voicedeskPlayer = p.api; // read by the browser tests
  p.path = data.path;
  p.rate = data.rate;
  if (data.token && data.token !== p.lastToken) {
    p.lastToken = data.token;
    p.token = data.token;
  }
  p.connect();

  let button = parentElement.querySelector("button");
  if (!button) {
    button = document.createElement("button");
    button.type = "button";
    button.className = "stop";
    button.textContent = "Stop speaking";
    button.setAttribute("aria-label", "Stop speaking");
    parentElement.appendChild(button);
  }
  button.onclick = () => p.stop("button");
  button.hidden = p.stats.state !== "speaking";
  p.buttons.add(button);
  return () => p.buttons.delete(button);
}
