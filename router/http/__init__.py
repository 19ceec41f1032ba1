"""The HTTP endpoints beside Socket.IO, as Flask blueprints: the publish API, /healthz, /readyz,
/metrics, the demo page and the console. They know no WSGI server and no broker client."""
