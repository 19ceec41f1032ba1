"""The test layers: which marker each test gets, and which markers a subprocess needs.

The fast layer runs inside the pytest process, quickly. A test that needs a browser,
Node, a broker or nginx, starts another process (a router, a command run to
completion) or generates hundreds of inputs (hypothesis) carries that layer's marker,
and ``e2e`` with it. pyproject.toml registers the markers with what each needs;
tests/conftest.py applies them and guards them; CONTRIBUTING.md says how to select.
"""

from __future__ import annotations

import shlex
from pathlib import Path

E2E = "e2e"  # the umbrella: every test with one of LAYERS
LAYERS = ("browser", "node", "broker", "nginx", "processes", "cli", "fuzz")

# What gives a test a layer: a fixture it uses (directly or through another fixture;
# parametrized arguments count), the module it is in, or its own name. A hypothesis
# test (@given) is `fuzz`.
LAYER_FIXTURES = {
    "router_process": {"processes"},
    "http_backend": {"processes"},  # test_http_backend*: tests/support/backend.py as a process
    "broker": {"broker"},  # test_ops_endpoints, test_scale_out: parametrized over the brokers
}
LAYER_MODULES = {
    "test_abuse_integration.py": {"processes", "node"},
    "test_bench_quick.py": {"processes", "node", "broker", "cli"},
    "test_broker_outage.py": {"broker"},
    "test_browser.py": {"browser"},
    "test_connection_recovery.py": {"processes", "node"},
    "test_recovery_redis.py": {"broker"},
    "test_deploy_nginx.py": {"nginx", "broker", "node"},
    "test_emit_command.py": {"cli"},
    "test_http_backend_integration.py": {"processes", "node"},
    "test_integration_router.py": {"node"},
    "test_jsclient_harness.py": {"processes", "node"},
    "test_ops_check_strict.py": {"cli"},
    "test_ops_scenarios.py": {"cli"},
    "test_ops_schema.py": {"cli"},
    "test_ops_shutdown.py": {"node"},
    "test_presence_cluster.py": {"broker", "node"},
    "test_scale_out.py": {"broker", "node"},
    "test_slow_consumers.py": {"processes"},
    "test_websocket_frames.py": {"processes"},
}
LAYER_TESTS = {
    "test_connection_recovery.py::test_a_client_recovers_on_another_process_of_a_redis_cluster":
        {"broker", "cli"},
    "test_connection_recovery.py::test_sigterm_with_recovery_tells_clients_to_come_back_and_they_recover_on_another_process":
        {"broker"},
    "test_abuse_controls.py::test_check_warns_about_any_origin": {"cli"},
    "test_abuse_controls.py::test_check_lists_the_limits": {"cli"},
    "test_config_errors.py::test_check_prints_the_routing_table": {"cli"},
    "test_config_errors.py::test_cli_reports_a_config_error_without_traceback": {"cli"},
    "test_connection_footprint.py::test_gevent_greenlet_tree_tracking_is_off_unless_the_environment_says":
        {"cli"},
    "test_emit_command.py::test_nobody_subscribed_is_a_warning": {"broker"},
    "test_http_backend.py::test_check_prints_the_backend_urls_and_strict_warns_about_plain_http_and_unsigned_calls":
        {"cli"},
    "test_http_backend.py::test_a_scenario_call_nobody_answers_fails_naming_the_call": {"cli"},
    "test_ops_admin_and_logs.py::test_the_admin_namespace_cannot_shadow_a_declared_one": {"cli"},
    "test_new_user_papercuts.py::test_an_unknown_filter_is_a_located_config_error_in_check_and_serve": {"cli"},
    "test_new_user_papercuts.py::test_every_shipped_config_checks_from_another_directory": {"cli"},
    "test_new_user_papercuts.py::test_the_shipped_scenarios_pass_from_another_directory": {"cli"},
    "test_new_user_papercuts.py::test_plugins_dir_and_key_files_start_from_the_config_file": {"cli"},
    "test_new_user_papercuts.py::test_the_default_plugins_dir_is_the_one_beside_the_config": {"cli"},
    "test_new_user_papercuts.py::test_schema_of_a_config_has_its_plugins_from_another_directory": {"cli"},
    "test_new_user_papercuts.py::test_a_missing_scenario_file_is_named_as_one": {"cli"},
    "test_new_user_papercuts.py::test_version_comes_from_the_package_metadata": {"cli"},
    "test_new_user_papercuts.py::test_usage_shows_the_name_the_user_typed": {"cli"},
    "test_new_user_papercuts.py::test_an_unknown_command_lists_the_commands": {"cli"},
    "test_ops_endpoints.py::test_readyz_and_the_managers_take_the_same_redis_url_forms": {"broker"},
    "test_ops_reload.py::test_with_recovery_on_redis_a_swap_keeps_clients_and_a_restart_recovers_them":
        {"node", "broker"},
    "test_ops_reload.py::test_a_change_only_a_new_process_applies_restarts_and_clients_reconnect":
        {"node"},
    "test_ops_reload.py::test_clients_in_rooms_stay_and_receive_what_was_published_during_the_swap":
        {"node"},
    "test_pages.py::test_cli_refuses_an_open_console_on_a_public_host": {"cli", "processes"},
    "test_scale_out.py::test_emit_command_reaches_clients_of_both_processes": {"cli"},
    "test_slow_consumers.py::test_a_volatile_message_from_another_process_skips_a_member_that_is_behind":
        {"broker"},
}

# A subprocess's program says its layer; a Python child is a command (`cli`) or a server.
PROGRAM_LAYERS = {"node": "node", "chromedriver": "browser", "chromium": "browser",
                  "nginx": "nginx", "redis-server": "broker"}
PYTHON_LAYERS = {"cli", "processes"}


def layers_of(item) -> set[str]:
    """The layer markers of a pytest item (or anything with its ``fspath``, ``originalname``,
    ``fixturenames`` and ``obj``), from the tables above."""
    module = Path(str(item.fspath)).name
    layers = set(LAYER_MODULES.get(module, ()))
    layers |= LAYER_TESTS.get(f"{module}::{getattr(item, 'originalname', None) or item.name}", set())
    for name in getattr(item, "fixturenames", ()):
        layers |= LAYER_FIXTURES.get(name, set())
    if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
        layers.add("fuzz")
    return layers


def process_layers(argv: list[str]) -> set[str]:
    """The markers one of which a test starting ``argv`` must carry."""
    program = Path(argv[0]).name if argv else ""
    if program in PROGRAM_LAYERS:
        return {PROGRAM_LAYERS[program]}
    if program.startswith("python"):
        return PYTHON_LAYERS
    return set(LAYERS) - {"fuzz"}  # another tool: any layer that leaves the process will do


def unannounced_process(item, argv: list[str]) -> str | None:
    """Why ``item`` may not start ``argv``, or None when one of its markers announces it."""
    needed = process_layers(argv)
    if any(item.get_closest_marker(layer) for layer in needed):
        return None
    command = shlex.join(argv[:3]) + (" ..." if len(argv) > 3 else "")
    return (f"{item.nodeid} starts `{command}` but is not marked {' or '.join(sorted(needed))}; "
            f"add its fixture, module or name to the tables of tests/support/layers.py")

