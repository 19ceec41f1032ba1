// The classic Flask-SocketIO example page's script, without jQuery.
// Every "Received #N" number comes from the server (the `count` template variable).
(function () {
  "use strict";

  var page = document.getElementById("demo");
  var socket = io(page.dataset.namespace, { path: page.dataset.path });
  var log = document.getElementById("log");
  var transport = document.getElementById("transport");
  var status = document.getElementById("status");
  var pingPong = document.getElementById("ping-pong");

  function append(text) {
    var line = document.createElement("div");
    line.className = "entry";
    line.textContent = text; // text, never HTML: messages come from other clients
    log.appendChild(line);
  }

  function showTransport() {
    transport.textContent = socket.connected ? socket.io.engine.transport.name : "none";
  }

  socket.on("connect", function () {
    status.textContent = "connected";
    showTransport();
    socket.io.engine.on("upgrade", function () {
      samples = [];
      showTransport();
      ping();
    });
    socket.emit("my_event", { data: "I'm connected!" });
    ping();
  });

  socket.on("disconnect", function (reason) {
    status.textContent = "disconnected (" + reason + ")";
    showTransport();
  });

  socket.on("connect_error", function (err) {
    status.textContent = "connection refused: " + err.message;
    append("Connection error: " + err.message);
  });

  socket.on("my_response", function (msg, cb) {
    append("Received #" + msg.count + ": " + msg.data);
    if (cb) cb();
  });

  // rooms.presence of configs/demo.yaml: who else comes into or leaves a room this page is in.
  socket.on("presence", function (notice) {
    var member = notice.member || {};
    var who = member.name || member.sub || member.sid || "someone";
    append("Presence in room " + notice.room + ": " + who + (notice.action === "join" ? " joined" : " left"));
  });

  // Latency: my_ping carries its send time and transport, and the server's my_pong echoes
  // them back, so a late pong is never matched with a newer ping. The average (of the last
  // 30) describes the transport shown: a ping sent over long-polling while the connection
  // upgraded can take tens of ms and would otherwise linger in it for a minute.
  var samples = [];
  function ping() {
    if (!socket.connected) return; // a disconnected socket would buffer pings and flood later
    showTransport();
    socket.emit("my_ping", { sent: performance.now(), transport: socket.io.engine.transport.name });
  }
  window.setInterval(ping, Number(page.dataset.pingInterval));

  socket.on("my_pong", function (echo) {
    if (!echo || typeof echo.sent !== "number") return;
    if (!socket.connected || echo.transport !== socket.io.engine.transport.name) return;
    samples.push(performance.now() - echo.sent);
    samples = samples.slice(-30);
    var sum = 0;
    for (var i = 0; i < samples.length; i++) sum += samples[i];
    pingPong.textContent = String(Math.round(10 * sum / samples.length) / 10);
  });

  function on(formId, send) {
    document.getElementById(formId).addEventListener("submit", function (event) {
      event.preventDefault();
      send();
    });
  }
  function value(id) { return document.getElementById(id).value; }

  on("emit", function () { socket.emit("my_event", { data: value("emit_data") }); });
  on("broadcast", function () { socket.emit("my_broadcast_event", { data: value("broadcast_data") }); });
  on("join", function () { socket.emit("join", { room: value("join_room") }); });
  on("leave", function () { socket.emit("leave", { room: value("leave_room") }); });
  on("send_room", function () {
    socket.emit("my_room_event", { room: value("room_name"), data: value("room_data") });
  });
  on("close", function () { socket.emit("close_room", { room: value("close_room") }); });
  on("disconnect", function () { socket.emit("disconnect_request"); });
})();
