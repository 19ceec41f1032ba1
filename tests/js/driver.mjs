// Drive real socket.io-client sockets for the Python tests (tests/jsclient.py).
//
// Protocol: one JSON object per line. Commands arrive on stdin, reports leave
// on stdout; nothing else is ever written to stdout. Binary values travel as
// {"$binary": "<base64>"} in both directions. The process exits on {"op":"exit"}
// or when stdin closes, so a crashed test run never leaves it behind.

import { createInterface } from "node:readline";
import { io } from "socket.io-client";

// Socket.IO packet type of a server refusal (socket.io-parser PacketType.CONNECT_ERROR).
const CONNECT_ERROR = 4;

const sockets = new Map(); // id -> socket
const serverAcks = new Map(); // ackId -> ack function the server asked us to call
let nextAckId = 1;

function report(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function toWire(value) {
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    const buf = Buffer.isBuffer(value)
      ? value
      : value instanceof ArrayBuffer
        ? Buffer.from(value)
        : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return { $binary: buf.toString("base64") };
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$binary" && typeof value.$binary === "string") {
      return Buffer.from(value.$binary, "base64");
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
}

function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

function socketFor(cmd) {
  const socket = sockets.get(cmd.id);
  if (!socket) throw new Error(`no socket with id ${JSON.stringify(cmd.id)}; send a connect command first`);
  return socket;
}

// Builds the ack callback for an emit. withError makes socket.io-client call it
// with an Error on timeout or disconnect (as emitWithAck does) instead of
// dropping it silently; unlike emitWithAck it keeps every ack argument.
function ackCallback(id, req) {
  const fn = (err, ...args) => {
    if (err) report({ type: "ack", id, req, args: [], error: errorText(err) });
    else report({ type: "ack", id, req, args: toWire(args) });
  };
  fn.withError = true;
  return fn;
}

function withAck(socket, cmd, args) {
  if (!cmd.ack) return { target: socket, args };
  const target = cmd.timeout == null ? socket : socket.timeout(cmd.timeout);
  return { target, args: [...args, ackCallback(cmd.id, cmd.req)] };
}

const ops = {
  connect(cmd) {
    const old = sockets.get(cmd.id);
    if (old && old.active) {
      throw new Error(`socket ${JSON.stringify(cmd.id)} is still active; disconnect it first`);
    }
    if (old) old.close();
    // reconnect (ms): socket.io-client's own reconnection, which sends {pid, offset} to a server
    // with connection state recovery.
    const opts = cmd.reconnect == null
      ? { forceNew: true, reconnection: false, autoConnect: false }
      : { forceNew: true, autoConnect: false, reconnectionDelay: cmd.reconnect, reconnectionDelayMax: cmd.reconnect };
    if (cmd.auth != null) opts.auth = cmd.auth;
    if (cmd.transports != null) opts.transports = cmd.transports;
    if (cmd.query != null) opts.query = cmd.query;
    if (cmd.extraHeaders != null) opts.extraHeaders = cmd.extraHeaders;
    const namespace = cmd.namespace ?? "/";
    const socket = io(cmd.url + namespace, opts);
    sockets.set(cmd.id, socket);

    // socket.io-client turns a refusal into Error(payload.message) with
    // .data = payload.data, losing any other key of the server's payload (and
    // all of it when the payload is a plain string). Keep the raw payload too.
    // This listener is added before connect() so it runs before the socket's own.
    let refusal = null;
    socket.io.on("packet", (packet) => {
      if (packet.type === CONNECT_ERROR && packet.nsp === namespace) refusal = packet.data;
    });

    socket.on("connect", () => {
      report({
        type: "connect", id: cmd.id, sid: socket.id, transport: socket.io.engine.transport.name,
        recovered: socket.recovered === true,
      });
    });
    socket.on("connect_error", (err) => {
      report({
        type: "connect_error",
        id: cmd.id,
        message: err.message,
        data: err.data === undefined ? null : toWire(err.data),
        raw: refusal === null ? null : toWire(refusal),
      });
    });
    socket.on("disconnect", (reason) => {
      report({ type: "disconnect", id: cmd.id, reason });
    });
    // onAny sees every incoming event, the unnamed 'message' of send() included.
    socket.onAny((event, ...args) => {
      const msg = { type: "event", id: cmd.id, event };
      if (typeof args[args.length - 1] === "function") {
        const ackId = nextAckId++;
        serverAcks.set(ackId, args.pop());
        msg.ackId = ackId;
      }
      msg.args = toWire(args);
      report(msg);
    });
    socket.connect();
  },

  emit(cmd) {
    const socket = socketFor(cmd);
    const { target, args } = withAck(socket, cmd, fromWire(cmd.args ?? []));
    target.emit(cmd.event, ...args);
  },

  send(cmd) {
    const socket = socketFor(cmd);
    const { target, args } = withAck(socket, cmd, fromWire(cmd.args ?? []));
    target.send(...args);
  },

  reply(cmd) {
    const fn = serverAcks.get(cmd.ackId);
    if (!fn) throw new Error(`no pending server ack ${cmd.ackId}; it may have been answered already`);
    serverAcks.delete(cmd.ackId);
    fn(...fromWire(cmd.args ?? []));
  },

  disconnect(cmd) {
    socketFor(cmd).disconnect();
  },

  exit() {
    for (const socket of sockets.values()) socket.close();
    // Let stdout drain before leaving.
    process.stdout.write("", () => process.exit(0));
  },
};

function handleLine(line) {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    report({ type: "error", message: `invalid JSON command: ${errorText(err)}`, line });
    return;
  }
  const op = ops[cmd.op];
  if (!op) {
    report({ type: "error", message: `unknown op ${JSON.stringify(cmd.op)}`, op: cmd.op, id: cmd.id ?? null, req: cmd.req ?? null });
    return;
  }
  try {
    op(cmd);
  } catch (err) {
    report({ type: "error", message: errorText(err), op: cmd.op, id: cmd.id ?? null, req: cmd.req ?? null });
  }
}

// An exception in a socket callback must not kill the driver and every socket with it.
process.on("uncaughtException", (err) => {
  report({ type: "error", message: `uncaught: ${errorText(err)}` });
});

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", handleLine);
lines.on("close", () => ops.exit());
report({ type: "ready", pid: process.pid });
