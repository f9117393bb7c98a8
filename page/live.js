// VoiceDesk's Live mode (st.components.v2): "Start live" opens a hands-free conversation for
// this tab. The microphone (echo cancellation and noise suppression on) is cut into 20 ms
// PCM16 mono 24 kHz frames by an AudioWorklet and sent over the page's live socket
// (page/live_relay.py); answers come back on it and play through the answer player
// (player.js). One live session per tab, kept on window so reruns redraw only the view.
//
// Barge-in, two ways: the server's voice activity detection sends "interrupted" (the player
// stops at once and the tab reports how much it played, for truncation); and a local energy
// gate pauses the answer the moment the microphone hears speech over it, resuming it if the
// server does not confirm an interruption within `gate.holdMs` (a cough, a door).
// Everything the model or the person said is shown with textContent, never as HTML.

const FRAME = 480; // samples per frame: 20 ms at 24 kHz
// Frames of 24 kHz PCM16 from the microphone. Where the browser cannot run the microphone at
// 24 kHz (Firefox), the context runs at the device's rate and this resamples (linear).
const WORKLET = `
class VoicedeskMic extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.step = sampleRate / options.processorOptions.rate;
    this.pos = 0; this.last = 0;
    this.buf = new Int16Array(${FRAME}); this.n = 0;
  }
  push(x) {
    const s = Math.max(-1, Math.min(1, x));
    this.buf[this.n++] = s < 0 ? s * 32768 : s * 32767;
    if (this.n === ${FRAME}) {
      this.port.postMessage(this.buf.buffer, [this.buf.buffer]);
      this.buf = new Int16Array(${FRAME}); this.n = 0;
    }
  }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    if (this.step === 1) {
      for (let i = 0; i < ch.length; i++) this.push(ch[i]);
      return true;
    }
    let pos = this.pos; // where the next output sample falls; below 0: after the last block's end
    while (pos < ch.length - 1) {
      const i = Math.floor(pos), f = pos - i;
      const a = i < 0 ? this.last : ch[i];
      this.push(a + (ch[i + 1] - a) * f);
      pos += this.step;
    }
    this.pos = pos - ch.length;
    this.last = ch[ch.length - 1];
    return true;
  }
}
registerProcessor("voicedesk-mic", VoicedeskMic);`;

const LABELS = {
  idle: "Talk hands-free: ask, listen, interrupt",
  connecting: "Connecting…",
  listening: "Listening",
  hearing: "Hearing you",
  looking_up: "Looking up",
  speaking: "Speaking",
  interrupted: "Stopped, go ahead",
  closed: "Live ended",
  error: "Live stopped",
};
const NO_MIC = "The microphone is not available: allow it for this page to talk live.";
const NO_CONNECTION = "Live mode could not connect; press Start live to try again.";
const CHANGED = "the customer, voice, model or conversation changed; press Start live to go on";

function createLive() {
  const L = {
    state: "idle", socket: null, token: null, tokenAt: 0, lastToken: null, path: null,
    ttl: 600, rate: 24000, ctx: null, media: null, node: null, ready: false, item: null,
    replyItem: null, wantStart: false, retried: false, you: "", reply: "", sentence: "",
    answered: 0, trigger: () => {}, views: new Set(),
    gate: { on: true, min: 0.02, ratio: 4, frames: 2, holdMs: 900, floor: 0.002, run: 0, timer: null },
    stats: {
      frames: 0, sent: 0, audioFrames: 0, interrupted: 0, gated: 0, played: [],
      lastInterruptWall: null, lastGateWall: null, states: [],
    },
  };
  const wall = () => performance.timeOrigin + performance.now();
  const player = () => window.__voicedeskPlayer;

  L.set = (state) => {
    L.state = state;
    L.stats.states.push(state);
    L.render();
  };

  L.active = () => !["idle", "closed", "error"].includes(L.state);

  L.press = () => (L.active() ? L.end() : L.start());

  L.start = async () => {
    L.you = L.reply = L.sentence = L.closedText = ""; L.ready = false; L.retried = false;
    L.item = null; L.cut = false;
    L.openedWith = L.choices; // the page's choices this session is opened with
    L.set("connecting");
    try {
      await L.openMic();
    } catch (error) {
      L.finish(NO_MIC, true);
      return;
    }
    if (!L.active()) { L.release(); return; } // End live pressed while the microphone opened
    L.connectWhenFresh();
  };

  // A token the page handed out long ago may have expired: ask the page for a new one first.
  L.connectWhenFresh = () => {
    if (L.token && Date.now() - L.tokenAt < (L.ttl - 15) * 1000) {
      L.connect();
    } else {
      L.wantStart = true;
      L.trigger("token", Date.now());
    }
  };

  L.openMic = async () => {
    L.media = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    let source = null;
    if (!L.deviceRate) {
      try {
        L.ctx = new AudioContext({ sampleRate: L.rate });
        source = L.ctx.createMediaStreamSource(L.media);
      } catch { // the microphone cannot run at 24 kHz here: resample in the worklet
        if (L.ctx) L.ctx.close().catch(() => {});
      }
    }
    if (!source) {
      L.ctx = new AudioContext();
      source = L.ctx.createMediaStreamSource(L.media);
    }
    L.stats.micRate = L.ctx.sampleRate;
    const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
    await L.ctx.audioWorklet.addModule(url);
    URL.revokeObjectURL(url);
    L.node = new AudioWorkletNode(L.ctx, "voicedesk-mic", {
      numberOfInputs: 1, numberOfOutputs: 0, processorOptions: { rate: L.rate },
    });
    L.node.port.onmessage = (event) => L.frame(event.data);
    source.connect(L.node);
    if (L.ctx.state === "suspended") await L.ctx.resume();
    if (player()) player().context(); // this press lets the answers' audio start too
  };

  L.connect = () => {
    const token = L.token;
    L.token = null; // one use
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${L.path}`);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => socket.send(JSON.stringify({ type: "hello", token }));
    socket.onmessage = (event) => { if (L.socket === socket) L.receive(event.data); };
    socket.onclose = () => {
      if (L.socket !== socket) return;
      L.socket = null;
      if (!L.active()) return;
      if (!L.ready && !L.retried && !L.sentence) { // refused: most likely a spent token
        L.retried = true;
        L.wantStart = true;
        L.trigger("token", Date.now());
        return;
      }
      if (L.sentence) L.finish("", true); // the server said why
      else if (!L.ready) L.finish(NO_CONNECTION, true);
      else L.finish(L.closedText || "", false);
    };
    L.socket = socket;
  };

  L.frame = (buffer) => {
    L.stats.frames += 1;
    L.listenOver(new Int16Array(buffer));
    if (L.ready && L.socket && L.socket.readyState === WebSocket.OPEN) {
      L.socket.send(buffer);
      L.stats.sent += 1;
    }
  };

  // The local gate: speech over an answer that is playing pauses it at once.
  L.listenOver = (samples) => {
    const g = L.gate, p = player();
    let sum = 0;
    for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
    const level = Math.sqrt(sum / samples.length) / 32768;
    const loud = level > Math.max(g.min, g.floor * g.ratio);
    // The room's noise floor: follows quiet at once, rises only slowly (over ~10 s), so the
    // softer parts of speech do not raise it until speech no longer counts as loud.
    g.floor = level < g.floor ? 0.9 * g.floor + 0.1 * level : 0.998 * g.floor + 0.002 * level;
    if (!loud) { g.run = 0; return; }
    if (!g.on || !p || !p.audible() || !L.ready) return;
    g.run += 1;
    if (g.run < g.frames) return;
    g.run = 0;
    p.duck();
    L.stats.gated += 1;
    L.stats.lastGateWall = wall();
    clearTimeout(g.timer);
    const before = L.state;
    g.timer = setTimeout(() => { // not confirmed: not a turn after all, the answer goes on
      if (!p.ducked) return;
      p.unduck();
      if (L.state === "hearing") L.set(before);
    }, g.holdMs);
    L.set("hearing");
  };

  L.receive = (data) => {
    const p = player();
    if (typeof data !== "string") {
      L.stats.audioFrames += 1;
      if (p) p.liveChunk(data);
      return;
    }
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (m.type === "state") {
      if (m.text !== "connecting") L.ready = true;
      if (m.text === "looking_up" || m.text === "speaking") L.cut = false;
      if (m.text === "hearing" && L.state !== "hearing") L.you = L.sentence = ""; // a new turn
      if (m.text === "listening" && L.state === "speaking" && p && p.audible()) {
        // The answer arrives faster than it plays: it is still speaking until it goes quiet.
        L.whenQuiet(() => { if (L.state === "speaking") L.set("listening"); });
        return;
      }
      if (LABELS[m.text]) L.set(m.text);
    } else if (m.type === "heard_delta") {
      L.you += m.text || ""; L.render();
    } else if (m.type === "heard") {
      L.you = m.text || ""; L.render();
    } else if (m.type === "answer_delta") {
      if (m.item_id !== L.replyItem) { L.replyItem = m.item_id; L.reply = ""; }
      L.reply += m.text || ""; L.render();
    } else if (m.type === "audio") {
      L.item = m.item_id;
      if (p) p.liveBegin(m.item_id);
    } else if (m.type === "interrupted") {
      L.interrupted(m.item_id || L.item);
    } else if (m.type === "answer_done") {
      if (p && m.item_id === L.item) p.liveEnd();
      L.done = true;
      L.drawDone();
    } else if (m.type === "error") {
      L.sentence = m.text || ""; L.render();
    } else if (m.type === "closed") {
      L.closedText = m.text || "";
    }
  };

  // The page draws a finished answer (a rerun) once it stopped playing: a rerun keeps the
  // tab's main thread busy for a while, and a barge-in meanwhile would wait for it.
  L.drawDone = () => {
    const p = player();
    if (!L.done) return;
    if (p && p.sources.size && !p.muted) { L.whenQuiet(L.drawDone); return; }
    L.done = false;
    L.answered += 1;
    L.trigger("answered", L.answered);
  };

  // Run `then` once the answer player stops sounding (after whatever already waits for it).
  L.whenQuiet = (then) => {
    const p = player(), before = p.onQuiet;
    p.onQuiet = before && before !== then ? () => { before(); then(); } : then;
  };

  L.interrupted = (item) => {
    const p = player();
    L.stats.interrupted += 1;
    L.stats.lastInterruptWall = wall();
    clearTimeout(L.gate.timer);
    if (!p || !item || (p.liveItem && p.liveItem.id !== item)) { // not the answer playing
      if (p && p.ducked) p.unduck();
      return;
    }
    const ms = p.liveStop("interrupted");
    L.stats.played.push({ item, ms });
    L.send({ type: "played", item_id: item, ms });
    L.item = null;
    L.cut = true; // shown beside the state until the next answer
    L.set("interrupted");
  };

  L.send = (message) => {
    if (L.socket && L.socket.readyState === WebSocket.OPEN) L.socket.send(JSON.stringify(message));
  };

  L.end = (why) => {
    L.send({ type: "end" });
    L.finish(why || "", false);
  };

  // The session is over (End live, the server closed it, or it never started).
  L.finish = (sentence, failed) => {
    if (sentence && failed) L.sentence = sentence;
    else if (sentence) L.closedText = sentence;
    const socket = L.socket;
    L.socket = null;
    if (socket) socket.close();
    L.release();
    L.ready = false; L.wantStart = false;
    const p = player();
    if (p && p.liveItem) p.liveStop("ended");
    L.set(failed ? "error" : "closed");
    L.trigger("ended", Date.now()); // the page hands out a new token, and shows the last answer
  };

  // The microphone off (its indicator goes out) and its audio graph gone.
  L.release = () => {
    if (L.media) L.media.getTracks().forEach((track) => track.stop());
    if (L.ctx) L.ctx.close().catch(() => {});
    L.media = L.ctx = L.node = null;
  };

  L.render = () => {
    for (const view of L.views) view();
  };

  L.api = {
    stats: L.stats, gate: L.gate,
    set deviceRate(on) { L.deviceRate = on; }, // tests: the microphone at the device's rate
    get state() { return L.state; },
    get you() { return L.you; },
    get reply() { return L.reply; },
  };
  return L;
}

function view(L, root) {
  let box = root.querySelector(".live");
  if (!box) {
    box = document.createElement("div");
    box.className = "live";
    box.innerHTML = `
      <div class="bar">
        <button type="button" class="go"></button>
        <span class="state" role="status" aria-live="polite"><span class="dot"></span><span class="label"></span></span>
      </div>
      <div class="lines">
        <p class="you"><span class="who">You</span> <span class="words"></span></p>
        <p class="reply"><span class="who">VoiceDesk</span> <span class="words"></span></p>
      </div>
      <p class="sentence"></p>`; // constant markup: no text from anyone goes in here
    root.appendChild(box);
  }
  const go = box.querySelector(".go");
  go.onclick = () => L.press();
  return () => {
    const active = L.active();
    go.textContent = active ? "End live" : "Start live";
    go.className = active ? "go end" : "go";
    go.setAttribute("aria-pressed", String(active));
    const state = box.querySelector(".state");
    state.dataset.state = L.state;
    let label = LABELS[L.state] || L.state;
    if (L.state === "closed" && L.closedText) label = `${label}: ${L.closedText}`;
    if (L.cut && L.active() && L.state !== "interrupted") label = `${label} · answer stopped`;
    state.querySelector(".label").textContent = label;
    const you = box.querySelector(".you"), reply = box.querySelector(".reply");
    you.querySelector(".words").textContent = L.you;
    reply.querySelector(".words").textContent = L.reply;
    you.hidden = !L.you;
    reply.hidden = !L.reply;
    box.querySelector(".lines").hidden = !(L.you || L.reply) || !active; // then: in the conversation
    const sentence = box.querySelector(".sentence");
    sentence.textContent = L.sentence;
    sentence.hidden = !L.sentence;
  };
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const L = window.__voicedeskLive || (window.__voicedeskLive = createLive());
  window.voicedeskLive = L.api; // read by the browser tests
  L.path = data.path;
  L.ttl = data.ttl;
  L.rate = data.rate;
  if (!L.gateSet) { Object.assign(L.gate, data.gate || {}); L.gateSet = true; }
  L.trigger = setTriggerValue;
  L.choices = data.opened_with;
  if (L.active() && L.openedWith !== undefined && L.choices !== L.openedWith) L.end(CHANGED);
  if (data.token && data.token !== L.lastToken) {
    L.lastToken = data.token;
    L.token = data.token;
    L.tokenAt = Date.now();
  }
  if (L.wantStart && L.active() && !L.socket && L.token) { // a fresh token came: go on
    L.wantStart = false;
    L.connect();
  }
  const draw = view(L, parentElement);
  L.views.add(draw);
  draw();
  return () => L.views.delete(draw);
}
