"""A class-based namespace mounted with `class: "chat_namespace:ChatNamespace"`."""

from flask import request
from flask_socketio import Namespace, emit

from router import Refused


class ChatNamespace(Namespace):
    def on_connect(self, auth=None):
        if auth and auth.get("refuse"):
            raise Refused("told to refuse", rule="class")  # the plugin API's refusal works here too
        emit("hello", {"sid": request.sid})

    def on_shout(self, data):
        emit("shouted", str(data).upper(), broadcast=True)

    def on_add(self, a, b):
        return a + b

    def on_fail(self, data):
        raise ValueError("class handler failed")
