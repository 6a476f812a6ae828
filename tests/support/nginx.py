"""A real nginx for the HTTPS tests: one loopback server block per test, its own prefix.

Each server gets a temporary directory with its configuration, pid file, logs and temp
folders; it runs in the foreground (``daemon off``) in its own process group and is
stopped by the test.  Process handling and readiness come from :mod:`tests.support.servers`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tests.support.servers import HOST, ServerProcess, free_port, start_process

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def available() -> bool:
    """True when an nginx binary is installed."""
    return NGINX is not None


def config(directory: Path, port: int, cert: Path, key: Path, server_extra: str = "") -> str:
    """An nginx.conf serving HTTPS on ``HOST:port``; ``server_extra`` goes in the server block."""
    # Running as root, workers would switch to "nobody", who cannot read the temporary folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {name}_temp_path {directory / (name + '_temp')};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\n"
        f"pid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} info;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    access_log {directory / 'access.log'};\n"
        f"{temp}\n"
        "    server {\n"
        f"        listen {HOST}:{port} ssl;\n"
        "        server_name localhost;\n"
        f"        ssl_certificate {cert};\n"
        f"        ssl_certificate_key {key};\n"
        f"        root {directory / 'www'};\n"
        f"{server_extra}"
        "    }\n"
        "}\n"
    )


@contextlib.contextmanager
def nginx(
    directory: Path, cert: Path, key: Path, server_extra: str = ""
) -> Iterator[ServerProcess]:
    """A running nginx serving ``cert`` (leaf first, then any intermediates) on a free port."""
    if NGINX is None:
        raise RuntimeError("nginx is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    www = directory / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text("<p>hello</p>\n")
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(config(directory, port, cert, key, server_extra))
    command = [NGINX, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"]
    server = start_process("nginx", command, port, directory / "nginx.out", url_host="localhost")
    try:
        yield server
    finally:
        server.stop()
