// Load generator for bench/run.py: the official socket.io-client over WebSocket.
//
//   node load.mjs '<json spec>'
//
// Scenarios (spec.scenario):
//   echo         `clients` sockets each emit "echo" and wait for both the reply event and the
//                ack before the next one; reports round trips per second and latency. With
//                `waitForGo` it reports {"type": "ready"} once connected and starts on "go".
//   fanout       `receivers` sockets join a room (spread over spec.urls), one sender on urls[0]
//                emits "fanout" with at most `window` messages not yet delivered to everyone;
//                reports deliveries per second and delivery latency. `padding`: bytes of text
//                added to each message (the stalled-reader figure sends 40 KB messages). With
//                `waitForGo` it reports {"type": "ready"} once the room is full and sends on "go".
//   connections  waits for "go" on stdin, opens `count` sockets, reports how long that took,
//                then holds them until "release" (or stdin closes) and closes them.
//
// Every run is bounded: by `seconds` and `maxCount` for the measured phase, and by `limit`
// seconds for the whole process, after which it reports an error and exits by itself.
// Results are one JSON line on stdout ({"ok": true, ...} or {"ok": false, "error": ...});
// the connections scenario also prints {"type": "connected", ...} when its sockets are up.

import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { io } from "socket.io-client";

const spec = JSON.parse(process.argv[2] || "{}");
const NAMESPACE = spec.namespace || "/bench";

function report(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const hardStop = setTimeout(() => {
  report({ ok: false, error: `load generator hit its ${spec.limit || 120}s limit` });
  process.exit(3);
}, (spec.limit || 120) * 1000);

function open(url) {
  return io(url + NAMESPACE, {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    timeout: (spec.connectTimeout || 30) * 1000,
  });
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
  });
}

// Open `count` sockets with at most `concurrency` handshakes in flight, so a burst does not
// overflow the server's accept backlog and turn into SYN retries that measure the kernel.
async function openMany(urls, count, concurrency = 100, onOpen = null) {
  const sockets = new Array(count);
  let next = 0;
  let failed = 0;
  let firstError = null;
  async function worker() {
    while (next < count) {
      const index = next++;
      const socket = open(urls[index % urls.length]);
      sockets[index] = socket;
      try {
        await connected(socket);
        if (onOpen) await onOpen(socket, index);
      } catch (err) {
        failed++;
        firstError = firstError || err.message;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { sockets, failed, firstError };
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

function stats(latencies) {
  const sorted = Float64Array.from(latencies).sort();
  const sum = latencies.reduce((a, b) => a + b, 0);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : null,
    mean: sorted.length ? sum / sorted.length : null,
  };
}

function closeAll(sockets) {
  for (const socket of sockets) if (socket) socket.disconnect();
}

// -- echo -------------------------------------------------------------------------------

function roundTrip(socket, seq) {
  return new Promise((resolve) => {
    const start = performance.now();
    let parts = 0;
    const done = () => {
      if (++parts === 2) resolve(performance.now() - start);
    };
    socket.once("echo", done);
    socket.emit("echo", { seq, text: "hello" }, done);
  });
}

async function echo() {
  const { sockets, failed, firstError } = await openMany(spec.urls, spec.clients);
  if (failed) throw new Error(`${failed} of ${spec.clients} sockets did not connect: ${firstError}`);
  if (spec.waitForGo) {
    // Connected before whatever the runner starts next (a flood), measured once it has.
    const stdin = commands();
    report({ type: "ready" });
    if (!(await stdin.command("go"))) return { error: "stdin closed before go" };
  }
  const warmupEnd = performance.now() + (spec.warmup ?? 0.5) * 1000;
  let deadline = Infinity;
  let measuredStart = null;
  let count = 0;
  let total = 0; // warm-up included: what the server handled
  const latencies = [];
  const maxCount = spec.maxCount || Infinity;
  async function client(socket, index) {
    let seq = 0;
    for (;;) {
      const now = performance.now();
      if (now >= deadline || count >= maxCount) return;
      const rtt = await roundTrip(socket, seq++);
      total++;
      if (now >= warmupEnd) {
        if (measuredStart === null) {
          measuredStart = now;
          deadline = now + spec.seconds * 1000;
        }
        count++;
        latencies.push(rtt);
      }
    }
  }
  await Promise.all(sockets.map(client));
  const seconds = (performance.now() - measuredStart) / 1000;
  closeAll(sockets);
  return { clients: spec.clients, count, total, seconds, rate: count / seconds, latency_ms: stats(latencies) };
}

// -- fan-out ----------------------------------------------------------------------------

async function fanout() {
  const room = spec.room || "bench";
  const receivers = spec.receivers;
  const window = spec.window || 1;
  const warmupMessages = spec.warmupMessages ?? 5;
  const padding = spec.padding ? "x".repeat(spec.padding) : "";
  const received = new Map(); // seq -> deliveries so far
  const latencies = [];
  let deliveries = 0;
  let lastDelivery = 0;
  let onComplete = null;

  function onMessage(data) {
    const now = performance.now();
    const got = (received.get(data.seq) || 0) + 1;
    received.set(data.seq, got);
    if (data.seq >= warmupMessages) {
      latencies.push(now - data.t);
      deliveries++;
      lastDelivery = now;
    }
    if (got === receivers) {
      received.delete(data.seq);
      if (onComplete) onComplete();
    }
  }

  const joined = await openMany(spec.urls, receivers, 100, (socket) =>
    new Promise((resolve, reject) => {
      socket.on("fanout", onMessage);
      // A join the server never answers is reported as such, not as the run's time limit.
      socket.timeout(15_000).emit("join", { room }, (err) =>
        err ? reject(new Error("no answer to join within 15 s")) : resolve());
    }));
  if (joined.failed) throw new Error(`${joined.failed} of ${receivers} receivers did not join: ${joined.firstError}`);
  const sender = await connected(open(spec.urls[0]));
  if (spec.waitForGo) {
    // Everyone in the room before the runner starts counting (bench/profile_fanout.py).
    const stdin = commands();
    report({ type: "ready" });
    if (!(await stdin.command("go"))) return { error: "stdin closed before go" };
  }

  const maxMessages = warmupMessages + (spec.maxCount || 1_000_000);
  let sent = 0;
  let inFlight = 0;
  let measuredStart = null;
  let deadline = Infinity;
  await new Promise((resolve) => {
    // A lost delivery would hold its message in flight forever: give up `drain` seconds
    // after the measured phase and report what arrived.
    let drainTimer = null;
    function pump() {
      while (inFlight < window && sent < maxMessages && performance.now() < deadline) {
        const now = performance.now();
        if (sent === warmupMessages) {
          measuredStart = now;
          deadline = now + spec.seconds * 1000;
        }
        sender.emit("fanout", padding ? { room, seq: sent++, t: now, padding } : { room, seq: sent++, t: now });
        inFlight++;
      }
      if (inFlight === 0) {
        clearTimeout(drainTimer);
        resolve();
      } else if (drainTimer === null && (sent >= maxMessages || performance.now() >= deadline)) {
        drainTimer = setTimeout(resolve, (spec.drain ?? 10) * 1000);
      }
    }
    onComplete = () => {
      inFlight--;
      pump();
    };
    pump();
  });
  const measured = sent - warmupMessages;
  const seconds = (lastDelivery - measuredStart) / 1000;
  closeAll([sender, ...joined.sockets]);
  return {
    receivers, window, messages: measured, deliveries, expected: measured * receivers,
    seconds, rate: deliveries / seconds, latency_ms: stats(latencies),
  };
}

// -- connections ------------------------------------------------------------------------

// The runner's commands on stdin, one a line: `await command("go")` is true once "go" came,
// false if stdin closed first.
function commands() {
  const lines = createInterface({ input: process.stdin });
  const received = [];
  let wake = null;
  let stdinClosed = false;
  lines.on("line", (line) => {
    received.push(line.trim());
    if (wake) wake();
  });
  lines.on("close", () => {
    stdinClosed = true;
    if (wake) wake();
  });
  return {
    async command(name) {
      while (!received.includes(name) && !stdinClosed) await new Promise((r) => (wake = r));
      return received.includes(name);
    },
  };
}

async function connections() {
  const { command } = commands();
  report({ type: "ready" });
  if (!(await command("go"))) return { error: "stdin closed before go" };
  const start = performance.now();
  const { sockets, failed, firstError } = await openMany(spec.urls, spec.count, spec.concurrency || 100);
  const ms = performance.now() - start;
  report({ type: "connected", connected: spec.count - failed, failed, firstError, ms });
  await command("release");
  // Count the sockets still up before letting go: the server must have kept all of them.
  const alive = sockets.filter((s) => s && s.connected).length;
  closeAll(sockets);
  return { count: spec.count, connected: spec.count - failed, alive, ms };
}

const scenarios = { echo, fanout, connections };

try {
  const run = scenarios[spec.scenario];
  if (!run) throw new Error(`unknown scenario ${JSON.stringify(spec.scenario)}`);
  const result = await run();
  report({ ok: !result.error, scenario: spec.scenario, ...result });
  clearTimeout(hardStop);
  process.exit(0);
} catch (err) {
  report({ ok: false, scenario: spec.scenario, error: err.message });
  process.exit(1);
}
