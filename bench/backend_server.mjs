// The backend of the bench's backend scenario (bench/backend.py): answers every request at
// once with the JSON it was sent, over keep-alive connections.
//
//   node backend_server.mjs        # prints "listening on PORT", serves until stdin closes

import http from "node:http";

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = chunks.length ? Buffer.concat(chunks) : Buffer.from("null");
    response.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
    response.end(body);
  });
});
server.keepAliveTimeout = 60_000; // the servers under test keep their connections between runs
server.listen(0, "127.0.0.1", () => console.log(`listening on ${server.address().port}`));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
