"""Real FTP servers for the FTPS tests: vsftpd and pyftpdlib on loopback high ports.

Each server gets its own temporary directory (configuration, certificate, key,
log, an anonymous root with one file) and free ports found by binding port 0.
Process handling and readiness come from :mod:`tests.support.servers`.  Servers run in
their own process group so that stopping one also ends its per-session
children (vsftpd forks one per connection).

Run as ``python -m tests.support.ftpservers pyftpdlib CONFIG.json`` this module is the
pyftpdlib server itself (the tests start it in a subprocess).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.servers import HOST, PKIFiles, ServerProcess, free_port, start_process

VSFTPD = "/usr/sbin/vsftpd"
LISTING_NAME = "hello.txt"


def vsftpd_available() -> bool:
    """True when the vsftpd binary is installed."""
    return os.path.exists(VSFTPD) or shutil.which("vsftpd") is not None


def free_port_range(count: int = 8) -> tuple[int, int]:
    """``count`` consecutive free ports (for a passive port range), as (first, last)."""
    for _ in range(50):
        base = free_port()
        if base + count >= 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((HOST, port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base, base + count - 1
    raise RuntimeError("no range of free ports found")


def _anonymous_root(directory: Path) -> Path:
    root = directory / "anon"
    root.mkdir()
    (root / LISTING_NAME).write_text("hello\n")
    root.chmod(0o555)
    return root


def start_vsftpd(
    directory: Path,
    server_pki: PKIFiles,
    *,
    ssl: bool = True,
    implicit: bool = False,
    require_reuse: bool = True,
    force_tls: bool = True,
    extra: Mapping[str, str] | None = None,
    host: str = HOST,
) -> ServerProcess:
    """Start vsftpd with anonymous read access on a free loopback port (of ``host``)."""
    port = free_port(host)
    low, high = free_port_range()
    empty = directory / "empty"
    empty.mkdir()
    log_file = directory / "vsftpd.log"
    yes_no = {True: "YES", False: "NO"}
    settings = {
        **(
            {"listen": "NO", "listen_ipv6": "YES", "listen_address6": host}
            if ":" in host
            else {"listen": "YES", "listen_ipv6": "NO", "listen_address": host}
        ),
        "listen_port": str(port),
        "background": "NO",
        "isolate": "NO",
        "isolate_network": "NO",
        "seccomp_sandbox": "NO",
        "run_as_launching_user": "YES",
        "secure_chroot_dir": str(empty),
        "anonymous_enable": "YES",
        "no_anon_password": "NO",
        "local_enable": "NO",
        "write_enable": "NO",
        "anon_root": str(_anonymous_root(directory)),
        "pasv_enable": "YES",
        "pasv_min_port": str(low),
        "pasv_max_port": str(high),
        # vsftpd's own log format (not xferlog's) goes to vsftpd_log_file.
        "xferlog_enable": "YES",
        "xferlog_std_format": "NO",
        "vsftpd_log_file": str(log_file),
        "log_ftp_protocol": "YES",
        "syslog_enable": "NO",
        "ssl_enable": yes_no[ssl],
    }
    if ssl:
        settings.update(
            {
                "rsa_cert_file": str(server_pki.served),
                "rsa_private_key_file": str(server_pki.key),
                "allow_anon_ssl": "YES",
                "force_anon_logins_ssl": yes_no[force_tls],
                "force_anon_data_ssl": yes_no[force_tls],
                "require_ssl_reuse": yes_no[require_reuse],
                "implicit_ssl": yes_no[implicit],
                "debug_ssl": "YES",
            }
        )
    settings.update(extra or {})
    config = directory / "vsftpd.conf"
    config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    config.chmod(0o600)
    url_host = f"[{host}]" if ":" in host else "localhost"
    command = [VSFTPD, str(config)]
    return start_process("vsftpd", command, port, log_file, url_host=url_host, host=host)


# -- pyftpdlib ---------------------------------------------------------------------------

PYFTPDLIB_VARIANTS = (
    "ok",  # TLS required on both channels, anonymous read access
    "cleartext",  # TLS optional on both channels
    "refuse_prot_p",  # PROT P answered with 534
    "wrong_pasv",  # PASV names WRONG_PASV_ADDRESS
    "users_only",  # no anonymous access
    "reuse_required_no_resume",  # demands session reuse on data but can never resume
    # The first probe connection (the second connection: the first one is the
    # readiness check) is greeted only after SLOW_GREETING_S.
    "slow_first_greeting",
)
SLOW_GREETING_S = 2.5
REUSE_REFUSAL = "425 Unable to build data connection: TLS session of data connection not resumed."
WRONG_PASV_ADDRESS = "203.0.113.7"


def start_pyftpdlib(
    directory: Path,
    server_pki: PKIFiles,
    *,
    variant: str = "ok",
    users: Mapping[str, str] | None = None,
) -> ServerProcess:
    """Start pyftpdlib's TLS handler (scripted by ``variant``) in a subprocess."""
    assert variant in PYFTPDLIB_VARIANTS, variant
    port = free_port()
    low, high = free_port_range()
    log_file = directory / "pyftpdlib.log"
    config = {
        "port": port,
        "passive_ports": [low, high],
        "cert_file": str(server_pki.served),
        "key_file": str(server_pki.key),
        "root": str(_anonymous_root(directory)),
        "variant": variant,
        "users": dict(users or {}),
        "log_file": str(log_file),
    }
    config_file = directory / "pyftpdlib.json"
    config_file.write_text(json.dumps(config))
    config_file.chmod(0o600)
    command = [sys.executable, "-m", "tests.support.ftpservers", "pyftpdlib", str(config_file)]
    repo = Path(__file__).resolve().parents[2]
    return start_process("pyftpdlib", command, port, log_file, cwd=repo, url_host="localhost")


def _serve_pyftpdlib(config: Mapping[str, Any]) -> None:
    import logging

    from OpenSSL import SSL
    from OpenSSL._util import lib as openssl
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import TLS_DTPHandler, TLS_FTPHandler
    from pyftpdlib.servers import FTPServer

    logging.basicConfig(level=logging.WARNING)
    variant = config["variant"]
    authorizer = DummyAuthorizer()
    for user, password in config["users"].items():
        authorizer.add_user(user, password, config["root"], perm="elr")
    if variant != "users_only":
        authorizer.add_anonymous(config["root"])
    connections = {"count": 0}

    # A context that shares nothing with the control connection's: no session
    # offered by a client can resume there.
    lonely = SSL.Context(SSL.TLS_SERVER_METHOD)
    lonely.use_certificate_chain_file(config["cert_file"])
    lonely.use_privatekey_file(config["key_file"])
    lonely.set_options(SSL.OP_NO_TICKET)
    lonely.set_session_cache_mode(SSL.SESS_CACHE_OFF)

    class DataHandler(TLS_DTPHandler):  # type: ignore[misc]
        def secure_connection(self, ssl_context: Any) -> None:
            if variant == "reuse_required_no_resume":
                ssl_context = lonely
            super().secure_connection(ssl_context)

        def handle_ssl_established(self) -> None:
            resumed = openssl.SSL_session_reused(self.socket._ssl)
            if variant == "reuse_required_no_resume" and not resumed:
                self._resp = (REUSE_REFUSAL, logging.info)
                self.close()
                return
            super().handle_ssl_established()

    class Handler(TLS_FTPHandler):  # type: ignore[misc]
        def handle(self) -> None:
            connections["count"] += 1
            if variant == "slow_first_greeting" and connections["count"] == 2:
                self.ioloop.call_later(SLOW_GREETING_S, super().handle)
                return
            super().handle()

        def ftp_PROT(self, line: str) -> None:
            if variant == "refuse_prot_p" and line.strip().upper() == "P":
                self.respond("534 PROT P refused by site policy.")
                return
            super().ftp_PROT(line)

    Handler.certfile = config["cert_file"]
    Handler.keyfile = config["key_file"]
    Handler.authorizer = authorizer
    Handler.dtp_handler = DataHandler
    Handler.auth_failed_timeout = 0.05
    low, high = config["passive_ports"]
    Handler.passive_ports = list(range(low, high + 1))
    strict = variant != "cleartext"
    Handler.tls_control_required = strict
    Handler.tls_data_required = strict
    if variant == "wrong_pasv":
        Handler.masquerade_address = WRONG_PASV_ADDRESS
    server = FTPServer((HOST, config["port"]), Handler)
    server.serve_forever()


def main(argv: list[str]) -> int:
    """``pyftpdlib CONFIG.json``: run the scripted pyftpdlib server until killed."""
    if len(argv) != 2 or argv[0] != "pyftpdlib":
        sys.stderr.write("usage: python -m tests.support.ftpservers pyftpdlib CONFIG.json\n")
        return 2
    _serve_pyftpdlib(json.loads(Path(argv[1]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
