"""The built-in plugins: steps (echo, emit, rooms, ack, ...), auth rules (token, jwt, header,
origin, ip) and the http step and rule that call your backend (http.py, over backend_client.py).
They use exactly the contract of router/plugin_api.py, as a user's plugin does."""
