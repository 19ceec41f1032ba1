"""Run Debian's nginx with the shipped deploy/nginx.conf, on ports a test picks, as a child process."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.processes import terminate
from tests.support.router_process import ROOT

SHIPPED = ROOT / "deploy" / "nginx.conf"

# What the shipped file is wrapped in: one process (so round robin alternates strictly and no
# worker needs another user's permissions), every path inside the test's directory.
MAIN_CONF = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/site.conf;
}}
"""


def render_shipped(listen_port: int, upstream_ports: list[int], sticky: bool = True) -> str:
    """deploy/nginx.conf with the test's ports; ``sticky=False`` removes ``ip_hash`` (round robin)."""
    text = SHIPPED.read_text()
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+;\n", text, flags=re.M)
    assert len(servers) == 2 and "ip_hash;" in text and "listen 8080;" in text, \
        "deploy/nginx.conf changed shape: update tests/support/nginx.py"
    upstreams = "".join(f"    server 127.0.0.1:{port};\n" for port in upstream_ports)
    text = text.replace("".join(servers), upstreams)
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{listen_port};")
    if not sticky:
        text = re.sub(r"^\s*ip_hash;\n", "", text, flags=re.M)
    return text


class Nginx:
    def __init__(self, directory: Path, site_conf: str, port: int):
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(self.binary).exists():
            raise RuntimeError("nginx is not installed; run 'bash scripts/test', which installs "
                               "Debian's nginx")
        self.dir = directory
        self.port = port
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "site.conf").write_text(site_conf)
        (self.dir / "nginx.conf").write_text(MAIN_CONF.format(dir=self.dir))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10) -> "Nginx":
        conf = str(self.dir / "nginx.conf")
        check = subprocess.run([self.binary, "-t", "-p", str(self.dir), "-e", str(self.dir / "error.log"),
                                "-c", conf], capture_output=True, text=True)
        assert check.returncode == 0, f"nginx -t refused the config:\n{check.stderr}"
        self.process = subprocess.Popen([self.binary, "-p", str(self.dir), "-e",
                                          str(self.dir / "error.log"), "-c", conf],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:  # bounded poll until the port accepts connections
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"nginx did not listen on {self.port}:\n{self.errors()}")
                time.sleep(0.05)

    def errors(self) -> str:
        path = self.dir / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        process, self.process = self.process, None
        terminate(process)
