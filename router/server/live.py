"""The handlers of the config a server serves, and the --reload swap to an edited one in place.

:func:`register_handlers` registers every YAML namespace's handlers with ``socketio.on_event``
(a class namespace with ``socketio.on_namespace``), as a hand-written Flask-SocketIO app does.
Each looks up what the config in force says: the connect handler its auth rules, an event's
handler its route (router/runtime/dispatch.py ``Route``). So :func:`swap` replaces the compiled
config in the dispatcher, which re-points every route, and registers only what is new: a new
namespace, a new event, an event whose steps now need (or no longer need) a Flask request
context (router/upstream/lean_events.py). Connected clients keep their Socket.IO sessions,
sids, rooms and identity; a removed event is answered as an unknown one; the clients of a
removed namespace are disconnected, and a new connect to it is refused as undeclared.

What only a new process can apply is data beside the models (router/config/models.py
``PROCESS_LEVEL_KEYS``); :func:`process_changes` names such changes, and the CLI restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from router.compile.compiler import CompiledRouter
from router.config.models import PROCESS_LEVEL_KEYS, ServerConfig
from router.runtime.dispatch import Dispatcher
from router.runtime.timers import TimerRunner
from router.server.shared_rooms import shares_rooms
from router.upstream.lean_events import direct

log = logging.getLogger("socketio_router")

# In the order the file shows them, for a line that names what changed.
_PROCESS_KEYS_IN_ORDER = [key for key in ServerConfig.model_fields if key in PROCESS_LEVEL_KEYS]


@dataclass
class Registered:
    """What is registered with the SocketIO server: the YAML namespaces that have their
    connect, disconnect and catch-all handlers, the class namespaces mounted, and each event's
    handler kind (True: called without a Flask request context)."""

    namespaces: set[str] = field(default_factory=set)
    classes: set[str] = field(default_factory=set)
    events: dict[tuple[str, str], bool] = field(default_factory=dict)


def register_handlers(socketio, dispatcher: Dispatcher, compiled: CompiledRouter,
                      registered: Registered) -> None:
    """Register what ``compiled`` serves and ``registered`` does not have yet (all of it at startup)."""
    for namespace in compiled.namespaces.values():
        name = namespace.name
        if namespace.class_ref:  # a new instance of the class as (re-)imported from plugins/
            namespace_class = compiled.registry.resolve_object(namespace.class_ref)
            socketio.on_namespace(namespace_class(name))
            registered.classes.add(name)
            continue
        if name not in registered.namespaces:
            socketio.on_event("connect", dispatcher.connect_handler(name), namespace=name)
            socketio.on_event("disconnect", dispatcher.disconnect_handler(name), namespace=name)
            socketio.on_event("*", dispatcher.unknown_event_handler(name), namespace=name)
            registered.namespaces.add(name)
        for event, steps in namespace.events.items():
            lean = not dispatcher.needs_request_context(name, steps)
            if registered.events.get((name, event)) == lean:
                continue  # its route already runs the steps in force
            handler = dispatcher.event_handler(name, event)
            if lean:
                # Half a message's cost saved: no Flask request context (router/upstream/lean_events.py).
                direct(handler, dispatcher.direct_event_handler(name, event))
            socketio.on_event(event, handler, namespace=name)  # replaces one of the other kind
            registered.events[(name, event)] = lean


def process_changes(router, compiled: CompiledRouter) -> list[str]:
    """What ``compiled`` changes that the running process cannot apply (``[]``: it can swap)."""
    old, registered = router.compiled, router.registered
    changes = [f"server.{key}" for key in _PROCESS_KEYS_IN_ORDER
               if getattr(old.config.server, key) != getattr(compiled.config.server, key)]
    # python-socketio has no call to unmount a class namespace or a namespace's handlers, and
    # the handlers of a namespace shadow its class (they are looked up first).
    for name, namespace in compiled.namespaces.items():
        if name in (registered.namespaces if namespace.class_ref else registered.classes):
            changes.append(f"namespaces['{name}'].class")
    for name in sorted(registered.classes - compiled.namespaces.keys()):
        changes.append(f"namespaces['{name}'].class")  # removed
    if (router.room_store is not None) != shares_rooms(compiled):
        changes.append("rooms.presence / rooms.history shared in Redis")
    return changes


def swap(router, compiled: CompiledRouter) -> int:
    """Serve ``compiled`` in this process from now on (:func:`process_changes` found nothing);
    the number of client connections kept.

    The dispatcher and the handlers change first, with nothing that waits in between, so under
    eventlet and gevent no message is handled half-way through. Then the clients of removed
    namespaces are disconnected and the timers start over with the new config's.
    """
    dispatcher = router.dispatcher
    timers_were_off = not router.compiled.config.server.timers_enabled
    removed = [name for name in router.compiled.namespaces if name not in compiled.namespaces]
    dispatcher.swap(compiled)
    register_handlers(router.socketio, dispatcher, compiled, router.registered)
    manager = router.socketio.server.manager
    manager.room_watch = dispatcher.presence  # None: no room is tracked, nothing to tell
    if router.room_store is not None:
        router.room_store.presence = dispatcher.presence
    router.compiled = compiled
    kept = len(dispatcher.connections)

    for name in removed:
        sids = [sid for namespace, sid in list(dispatcher.connections) if namespace == name]
        log.warning("namespace %s is not in the config any more%s", name,
                    f": disconnecting its {len(sids)} client(s)" if sids else "")
        for sid in sids:
            router.socketio.server.disconnect(sid, namespace=name)
        kept -= len(sids)
    # Started by the CLI with the server: they run again if they ran, or were just turned on.
    restart = router.timers.running or timers_were_off
    router.timers.stop()
    router.timers = TimerRunner(compiled.timers, router.socketio)
    if restart and compiled.config.server.timers_enabled:
        router.timers.start()
    return kept
