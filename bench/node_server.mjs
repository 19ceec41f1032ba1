// The bench job on Node socket.io 4: the reference a user would pick instead of the router.
//
//   node node_server.mjs [PORT]
//
// Namespace /bench does what bench/configs/bench.yaml does: `echo` emits the payload back and
// returns it as the ack, `join` joins `data.room` and acks true, `fanout` emits the payload to
// the room. socket.io's defaults otherwise (maxHttpBufferSize 1e6, perMessageDeflate off), with
// TCP_NODELAY as the Python targets have it. Prints `listening on PORT` once it listens and
// exits when its stdin closes.

import { createServer } from "node:http";
import { Server } from "socket.io";

const httpServer = createServer({ noDelay: true });
const io = new Server(httpServer, { serveClient: false });

io.of("/bench").on("connection", (socket) => {
  socket.on("echo", (data, ack) => {
    socket.emit("echo", data);
    if (typeof ack === "function") ack(data);
  });
  socket.on("join", (data, ack) => {
    socket.join(data.room);
    if (typeof ack === "function") ack(true);
  });
  socket.on("fanout", (data) => {
    io.of("/bench").to(data.room).emit("fanout", data);
  });
});

httpServer.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  process.stdout.write(`listening on ${httpServer.address().port}\n`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
