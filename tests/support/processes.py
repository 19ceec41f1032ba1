"""Stopping the processes tests start (routers, redis-server, nginx)."""

from __future__ import annotations

import subprocess


def terminate(process: subprocess.Popen | None, grace: float = 10) -> None:
    """SIGTERM ``process`` if it still runs, and SIGKILL it if it has not exited after ``grace`` s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
