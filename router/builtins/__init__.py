"""The built-in plugins: steps (echo, emit, rooms, ack, ...) and auth rules (token, jwt, header,
origin, ip). They use exactly the contract of router/plugin_api.py, as a user's plugin does."""
