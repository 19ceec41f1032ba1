"""``check``: validate a config, print its routing table and its risky settings."""

from __future__ import annotations

import sys

from router.config.lint import find_risks, security_warnings

EXIT_RISKY = 1  # check --strict found risky settings


def check(args) -> int:
    from router.compile.load import load_router

    compiled = load_router(args.config)
    print(routing_table(compiled))
    if not args.strict:  # --strict lists these among every risky setting
        for warning in security_warnings(compiled.config, compiled.source):
            print(f"warning: {warning.render()}", file=sys.stderr)
    return report_risks(compiled, args.strict)


def report_risks(compiled, strict: bool) -> int:
    """Print the warnings (all of them with ``strict``, else a count); the exit status of ``check``."""
    risks = find_risks(compiled.config, compiled.source, compiled.registry.secret_options(),
                       plugin_risks(compiled))
    if not risks:
        return 0
    if not strict:
        print(f"{len(risks)} risky setting(s); run check --strict to list them", file=sys.stderr)
        return 0
    for risk in risks:
        print(f"warning: {risk.render()}", file=sys.stderr)
    print(f"{len(risks)} warning(s): risky for production (exit {EXIT_RISKY} under --strict)",
          file=sys.stderr)
    return EXIT_RISKY


def plugin_risks(compiled) -> list:
    """(YAML path of the plugin's options, Risk) for what each configured plugin declares risky."""
    return [(path + (plugin.name,), risk) for path, plugin, options in compiled.configured_plugins()
            if plugin.risks is not None for risk in plugin.risks(options)]


def _shown(plugin, options) -> str:
    """A step or rule in the table: its name, and where it sends things if it says (``describe``)."""
    described = plugin.describe(options) if plugin.describe is not None else None
    return f"{plugin.name} ({described})" if described else plugin.name


def _rule(check) -> str:
    if check.any_of:
        return "any(" + ", ".join(_rule(rule) for rule in check.any_of) + ")"
    return _shown(check.plugin, check.options) if check.plugin is not None else check.name


def room_state_lines(compiled, policy) -> list[str]:
    """What ``rooms.presence`` and ``rooms.history`` keep in a namespace, and where."""
    from router.compile.policies import describe_history, describe_presence
    from router.config.brokers import broker_of

    if policy is None:
        return []
    url = compiled.config.server.message_queue
    where = ("shared through Redis" if url and broker_of(url).family == "redis"
             else "this process only")
    lines = []
    if policy.presence_anywhere:
        text = describe_presence(policy.rooms.presence if policy.rooms else None)
        own = [f"{event} ({describe_presence(rooms.presence if rooms else None)})"
               for event, rooms in policy.event_rooms.items()
               if (rooms.presence if rooms else None) != (policy.rooms.presence if policy.rooms else None)]
        if own:
            text += "; joins by " + "; ".join(own)
        lines.append(f"  presence: {text}; {where}")
    if policy.history is not None:
        lines.append(f"  history: {describe_history(policy.history)}; {where}")
    return lines


def routing_table(compiled) -> str:
    """The namespaces, their door and their events with the steps each runs."""
    lines = [f"{compiled.source.file}: OK"]
    for name, namespace in compiled.namespaces.items():
        if namespace.class_ref:
            lines.append(f"{name}  (class {namespace.class_ref})")
            continue
        rules = ", ".join(_rule(check) for check in namespace.auth) or "open"
        lines.append(f"{name}  auth: {rules}")
        if namespace.policy is not None and namespace.policy.describe():
            lines.append(f"  limits: {namespace.policy.describe()}")
        lines += room_state_lines(compiled, namespace.policy)
        rows = [("on_connect", namespace.on_connect), *namespace.events.items(),
                ("on_disconnect", namespace.on_disconnect)]
        if namespace.on_error is not None:
            rows.append(("on_error", namespace.on_error))
        width = max((len(event) for event, _ in rows), default=0)
        for event, steps in rows:
            if steps:
                lines.append(f"  {event.ljust(width)}  " + " -> ".join(_shown(s.plugin, s.options)
                                                                        for s in steps))
    return "\n".join(lines)
