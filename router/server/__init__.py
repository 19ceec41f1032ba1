"""The running server: the Flask app and its Flask-SocketIO object (app.py), client managers and
message-queue brokers, the WSGI servers of each async mode, operations, signals, graceful stop and
the --reload swap in place (live.py)."""
