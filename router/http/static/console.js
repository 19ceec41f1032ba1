// The live console: one socket.io-client connection to a namespace of the loaded config.
// Everything shown comes from the server or the user, so it goes in as text, never as HTML.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("console-config").textContent);
  var path = document.getElementById("console").dataset.path;
  var ACK_TIMEOUT_MS = 10000;
  var MAX_LOG_ROWS = 1000;

  function $(id) { return document.getElementById(id); }
  var namespaceSelect = $("namespace"), authInput = $("auth"), statusLine = $("status");
  var connectButton = $("connect"), disconnectButton = $("disconnect"), sendButton = $("send");
  var eventInput = $("event"), payloadInput = $("payload"), ackBox = $("ack"), spreadBox = $("spread");
  var sendError = $("send-error"), logBody = $("log"), routes = $("routes");
  var socket = null;
  var socketNamespace = null; // the description of the namespace the socket is for

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function show(value) {
    return JSON.stringify(value, function (key, item) {
      if (item instanceof ArrayBuffer) return "<" + item.byteLength + " bytes>";
      if (ArrayBuffer.isView(item)) return "<" + item.byteLength + " bytes>";
      return item;
    });
  }

  // Step options in YAML's flow style, as they are written in the config.
  function flow(value) {
    if (Array.isArray(value)) return "[" + value.map(flow).join(", ") + "]";
    if (value && typeof value === "object") {
      return "{" + Object.keys(value).map(function (key) { return flowString(key) + ": " + flow(value[key]); })
        .join(", ") + "}";
    }
    return typeof value === "string" ? flowString(value) : String(value);
  }
  function flowString(text) {
    var plain = /^[^\s\[\]{},:#&*!|>'"%@`-][^\[\]{},#]*$/.test(text) && !/[:\s]$/.test(text) &&
      text.indexOf(": ") < 0 && !/^(true|false|null|yes|no|on|off|~|[-+.\d].*)$/i.test(text);
    return plain ? text : JSON.stringify(text);
  }

  function clock() {
    var now = new Date();
    function pad(n, width) { return String(n).padStart(width || 2, "0"); }
    return pad(now.getHours()) + ":" + pad(now.getMinutes()) + ":" + pad(now.getSeconds()) +
      "." + pad(now.getMilliseconds(), 3);
  }

  var ARROWS = { out: "\u2192", "in": "\u2190", ack: "\u21a9", system: "\u2022" };

  // kind: out (sent), in (received), ack (a callback's values), system (connection changes).
  function log(kind, event, text, extra) {
    var row = element("tr", "row-" + kind);
    row.dataset.kind = kind;
    row.dataset.event = event;
    Object.keys(extra || {}).forEach(function (key) { row.dataset[key] = extra[key]; });
    row.appendChild(element("td", "time", clock()));
    row.appendChild(element("td", "kind", ARROWS[kind]));
    row.appendChild(element("td", "event", event));
    row.appendChild(element("td", "values", text));
    logBody.appendChild(row);
    while (logBody.rows.length > MAX_LOG_ROWS) logBody.deleteRow(0);
    row.scrollIntoView({ block: "nearest" });
  }

  function setStatus(state, text) {
    statusLine.dataset.state = state;
    statusLine.textContent = text;
    var connected = state === "connected";
    sendButton.disabled = !connected;
    disconnectButton.disabled = !socket;
  }

  // -- the routing table ------------------------------------------------------------------

  function selected() {
    for (var i = 0; i < config.namespaces.length; i++) {
      if (config.namespaces[i].name === namespaceSelect.value) return config.namespaces[i];
    }
    return config.namespaces[0];
  }

  function stepList(steps) {
    var list = element("ol", "steps");
    steps.forEach(function (step) {
      var item = element("li");
      item.appendChild(element("span", "plugin", step.plugin));
      if (Object.keys(step.options).length) item.appendChild(element("code", "options", flow(step.options)));
      list.appendChild(item);
    });
    return list;
  }

  function useEvent(event) {
    eventInput.value = event.name;
    payloadInput.value = event.sample ? JSON.stringify(event.sample) : "";
    payloadInput.focus();
  }

  function showRoutes() {
    var namespace = selected();
    routes.textContent = "";
    if (namespace["class"]) {
      routes.appendChild(element("p", "note", "Mounted from the class " + namespace["class"] +
        "; its events are defined in Python, not in the YAML."));
    } else {
      routes.appendChild(element("p", "auth", "auth: " + (namespace.auth.join(", ") || "open")));
      namespace.lifecycle.forEach(function (hook) {
        var block = element("div", "route lifecycle");
        block.appendChild(element("span", "name", hook.name));
        block.appendChild(stepList(hook.steps));
        routes.appendChild(block);
      });
      namespace.events.forEach(function (event) {
        var block = element("div", "route event");
        block.dataset.event = event.name;
        var use = element("button", "name", event.name);
        use.type = "button";
        use.title = "send " + event.name;
        use.addEventListener("click", function () { useEvent(event); });
        block.appendChild(use);
        block.appendChild(stepList(event.steps));
        routes.appendChild(block);
      });
      if (!namespace.events.length) routes.appendChild(element("p", "note", "No events routed."));
    }
    var names = $("event-names");
    names.textContent = "";
    namespace.events.forEach(function (event) {
      var option = element("option");
      option.value = event.name;
      names.appendChild(option);
    });
  }

  config.namespaces.forEach(function (namespace) {
    var option = element("option", null, namespace.name);
    option.value = namespace.name;
    namespaceSelect.appendChild(option);
  });
  namespaceSelect.addEventListener("change", function () {
    var sample = selected().auth_sample;
    authInput.value = Object.keys(sample).length ? JSON.stringify(sample) : "";
    showRoutes();
  });
  namespaceSelect.dispatchEvent(new Event("change"));

  // -- the connection ---------------------------------------------------------------------

  function parseJson(text, what) {
    if (!text.trim()) return { empty: true };
    try {
      return { value: JSON.parse(text) };
    } catch (err) {
      return { error: what + " is not JSON: " + err.message };
    }
  }

  $("connect-form").addEventListener("submit", function (domEvent) {
    domEvent.preventDefault();
    var auth = parseJson(authInput.value, "the auth payload");
    if (auth.error) { setStatus("error", auth.error); return; }
    if (socket) socket.disconnect();
    var namespace = namespaceSelect.value;
    socketNamespace = selected();
    var options = { path: path, forceNew: true };
    if (!auth.empty) options.auth = auth.value;
    var current = socket = io(namespace, options);
    setStatus("connecting", "connecting to " + namespace + "\u2026");

    // A replaced socket still logs what happens to it, but the status line is the current one's.
    function showConnected() {
      if (current !== socket || !current.connected) return;
      var transport = current.io.engine.transport.name;
      setStatus("connected", "connected to " + namespace + " as " + current.id + " (" + transport + ")");
    }
    current.on("connect", function () {
      if (current !== socket) return;
      showConnected();
      current.io.engine.once("upgrade", showConnected); // polling first, then websocket
      log("system", "connect", namespace + " as " + current.id);
    });
    current.on("connect_error", function (err) {
      var detail = err.data ? " " + show(err.data) : "";
      log("system", "connect_error", err.message + detail);
      if (current !== socket) return;
      setStatus(current.active ? "connecting" : "refused",
        (current.active ? "cannot connect, retrying: " : "refused: ") + err.message + detail);
    });
    current.on("disconnect", function (reason) {
      log("system", "disconnect", namespace + ": " + reason);
      if (current !== socket) return;
      setStatus("disconnected", "disconnected from " + namespace + " (" + reason + ")");
    });
    current.onAny(function (event) {
      var args = Array.prototype.slice.call(arguments, 1);
      var ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      log("in", event, show(args), ack ? { wantsAck: "true" } : {});
      if (ack) ack(); // the server asked for a callback: answer with no value
    });
  });

  disconnectButton.addEventListener("click", function () {
    if (!socket) return;
    socket.disconnect(); // fires "disconnect" ("io client disconnect") while still current
    socket = null;
    disconnectButton.disabled = true;
  });

  // -- sending ----------------------------------------------------------------------------

  $("send-form").addEventListener("submit", function (domEvent) {
    domEvent.preventDefault();
    sendError.textContent = "";
    var event = eventInput.value.trim();
    if (!event) { sendError.textContent = "name the event to send"; return; }
    if (!socket || !socket.connected) { sendError.textContent = "connect first"; return; }
    var payload = parseJson(payloadInput.value, "the payload");
    if (payload.error) { sendError.textContent = payload.error; return; }
    var args = payload.empty ? [] :
      (spreadBox.checked && Array.isArray(payload.value) ? payload.value : [payload.value]);
    log("out", event, show(args), ackBox.checked ? { wantsAck: "true" } : {});
    var routed = socketNamespace["class"] ||
      socketNamespace.events.some(function (known) { return known.name === event; });
    if (!routed) {
      log("system", event, "nothing routes " + JSON.stringify(event) + " on " + socketNamespace.name +
        ": the server ignores it" + (ackBox.checked ? " and will not ack" : ""));
    }
    if (!ackBox.checked) {
      socket.emit.apply(socket, [event].concat(args));
      return;
    }
    var started = performance.now();
    var timed = socket.timeout(ACK_TIMEOUT_MS);
    timed.emit.apply(timed, [event].concat(args, [
      function (err) {
        var ms = Math.round(10 * (performance.now() - started)) / 10;
        if (err) {
          log("ack", event, "no ack within " + ACK_TIMEOUT_MS / 1000 + " s", { error: "timeout" });
          return;
        }
        var values = Array.prototype.slice.call(arguments, 1);
        log("ack", event, show(values) + "  (" + ms + " ms)", { ms: String(ms) });
      }
    ]));
  });

  $("clear").addEventListener("click", function () { logBody.textContent = ""; });
})();
