# -*- test-case-name: tests.daemon.test_config -*-
"""The daemon's configuration: a TOML file, validated in full before anything runs.

Pure data.  :func:`load_config` either returns a :class:`Config` or raises
:class:`ConfigError` carrying every problem found, each with the file, the key
path (``target[2].ca[0]``) and what is wrong.  Relative paths resolve from the
folder of the configuration file.  The configuration and every file it names are read
by :func:`diagnostics.model.files.read_bounded` (regular files of at most 64 MiB); the
configuration must be UTF-8 text.  An encrypted key is opened with the passphrase in the
environment variable ``key_password_env`` names, never prompted for.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from diagnostics.daemon.syslogwire import SyslogAddress, parse_address
from diagnostics.lab.endpoints import DEFAULT_BASE_PORT, base_port_problem
from diagnostics.lab.manifest import ManifestEntry
from diagnostics.model.caller import DAEMON_PROBE
from diagnostics.model.errors import TlsdiagError
from diagnostics.model.escape import escape
from diagnostics.model.files import (
    EncryptedKeyError,
    FileError,
    decode_text,
    load_private_key,
    read_bounded,
    wrong_material,
)
from diagnostics.model.options import ProbeOptions, TrustConfig
from diagnostics.model.proxy import ProxySettings, ProxyURLError, parse_proxy_url
from diagnostics.model.result import Target
from diagnostics.model.target import (
    TargetError,
    parse_target,
    servername_problem,
    sni_compare_problem,
)

DEFAULT_CONFIG = os.path.join("config", "tlsdiag.toml")
DEFAULT_METRICS_LISTEN = "127.0.0.1:9130"
DEFAULT_INTERVAL = 300.0
DEFAULT_LOG_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_LOG_BACKUPS = 5
DEFAULT_CRL_REFRESH = 4 * 3600.0

_REPORTED = "\0already reported"  # a setting whose problem has been reported
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The keys a target, [defaults] and [module.NAME] take (url only in [[target]]).
SETTING_KEYS = (
    "ca",
    "system_trust",
    "crl",
    "crl_check",
    "crl_from_cdp",
    "cert",
    "key",
    "servername",
    "key_password_env",
    "user",
    "password_env",
    "labels",
    "interval",
    "timeout",
    "warn_days",
    "critical_days",
    "data_channel",
    "versions",
    "followups",
    "proxy",
    "proxy_password_env",
    "sni_compare",
    "family",
)
DAEMON_KEYS = (
    "log_dir",
    "metrics_listen",
    "concurrency",
    "allowed_targets",
    "log_max_bytes",
    "log_backups",
    "crl_refresh",
    "state_file",
    "syslog",
)
LISTENER_KEYS = (
    "url",
    "cert",
    "key",
    "key_password_env",
    "client_ca",
    "expect_cn",
    "require_client_cert",
    "crl",
    "max_connections",
    "max_per_address",
)
LAB_KEYS = ("enabled", "bind", "base_port", "state_dir", "interval", "timeout")
TOP_LEVEL_KEYS = ("daemon", "defaults", "target", "module", "listener", "lab")


@attrs.frozen
class ConfigProblem:
    """One thing wrong with a configuration file."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}"


class ConfigError(TlsdiagError, ValueError):
    """A configuration that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@attrs.frozen
class Settings:
    """How to probe: the options of a target or a module, after merging [defaults]."""

    options: ProbeOptions
    servername: str | None = None
    labels: Mapping[str, str] = attrs.field(factory=dict)
    interval: float = DEFAULT_INTERVAL


# The label that names a lab endpoint (set on the targets the daemon makes for the lab).
LAB_LABEL = "lab"


@attrs.frozen
class TargetConfig:
    """One scheduled target."""

    target: Target
    settings: Settings

    @property
    def url(self) -> str:
        """The target's URL, its identity in logs and metrics."""
        return self.target.url

    @property
    def name(self) -> str:
        """What people call the target: its lab endpoint's name, or its URL."""
        return self.settings.labels.get(LAB_LABEL, self.target.url)

    @property
    def host(self) -> str:
        """The host that per-host limits count against."""
        return self.target.host


@attrs.frozen
class ListenerConfig:
    """A server-side listener (validated; started by the listener feature)."""

    url: str
    cert: str | None
    key: str | None
    client_ca: tuple[str, ...] = ()
    crl: tuple[str, ...] = ()
    expect_cn: str | None = None
    require_client_cert: bool = False
    key_password: str | None = attrs.field(default=None, repr=False)
    """The passphrase of an encrypted ``key`` (from ``key_password_env``)."""
    max_connections: int | None = None
    """Connections held at once (None: the listener's default, as ``--max-connections``)."""
    max_per_address: int | None = None
    """Connections held at once from one client address (None: as ``--max-per-address``)."""


@attrs.frozen
class DaemonSettings:
    """The ``[daemon]`` table."""

    log_dir: str
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9130
    concurrency: int = 100
    allowed_targets: tuple[str, ...] = ()
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES
    log_backups: int = DEFAULT_LOG_BACKUPS
    crl_refresh: float = DEFAULT_CRL_REFRESH
    state_file: str | None = None  # resolved; None: state.json in log_dir; "": none kept
    syslog: SyslogAddress | None = None  # where every event also goes; None: nowhere


@attrs.frozen
class LabSettings:
    """The ``[lab]`` table: the lab of faulty endpoints, started and probed by the daemon."""

    bind: str = "127.0.0.1"
    base_port: int = 9400
    state_dir: str = ""  # resolved; the default is "lab" under the log folder
    interval: float = 60.0
    timeout: float = 10.0


@attrs.frozen
class Config:
    """A whole, valid configuration."""

    path: str
    daemon: DaemonSettings
    targets: tuple[TargetConfig, ...] = ()
    modules: Mapping[str, Settings] = attrs.field(factory=dict)
    listeners: tuple[ListenerConfig, ...] = ()
    lab: LabSettings | None = None  # None: no [lab] table, or enabled = false


def load_config(path: str, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a configuration file; ConfigError lists every problem."""
    try:
        data = tomllib.loads(decode_text(read_bounded(path), "file", path))
    except FileError as exc:
        raise ConfigError([ConfigProblem(path, "", exc.problem)]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(path, "", f"is not valid TOML: {exc}")]) from None
    return parse_config(data, path=path, environ=os.environ if environ is None else environ)


def parse_config(data: Mapping[str, Any], *, path: str, environ: Mapping[str, str]) -> Config:
    """Validate the parsed TOML of ``path``; ConfigError lists every problem."""
    checker = _Checker(path, os.path.dirname(os.path.abspath(path)), environ)
    config = checker.config(data)
    if checker.problems:
        raise ConfigError(checker.problems)
    assert config is not None
    return config


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``) as (host, port); ValueError saying what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not host:port (for example 127.0.0.1:9130)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        ipaddress.IPv6Address(host)
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 address in brackets, [::1]:9130")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: the port {port_text!r} is not a number") from None
    if not 0 <= port < 65536:  # 0: any free port, reported in the start event
        raise ValueError(f"{text!r}: port {port} is out of range")
    return host, port


class _Checker:
    """Walks the TOML data once, collecting every problem instead of stopping."""

    def __init__(self, file: str, base: str, environ: Mapping[str, str]) -> None:
        self.file = file
        self.base = base
        self.environ = environ
        self.problems: list[ConfigProblem] = []
        self.parsed: dict[tuple[str, str], str | None] = {}
        self.pairs: dict[tuple[str, str, str | None], str | None] = {}
        self.options: dict[ProbeOptions, ProbeOptions] = {}

    def problem(self, key: str, message: str) -> None:
        # A quoted TOML key may hold any character: no line break or escape reaches a terminal.
        self.problems.append(ConfigProblem(self.file, escape(key), escape(message)))

    # -- whole file -------------------------------------------------------------------

    def config(self, data: Mapping[str, Any]) -> Config | None:
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                self.problem(key, _unknown(key, TOP_LEVEL_KEYS, "top-level table"))
        daemon = self.daemon(self.table(data, "daemon"))
        defaults_raw = self.table(data, "defaults")
        self.known_keys(defaults_raw, "defaults", SETTING_KEYS)
        defaults = self.settings_values(defaults_raw, "defaults")
        self.settings(defaults, "defaults")
        targets = self.targets(data.get("target", []), defaults)
        modules = self.modules(data.get("module", {}), defaults)
        listeners = self.listeners(data.get("listener", []))
        lab = self.lab(self.table(data, "lab"), daemon)
        if daemon is None:
            return None
        return Config(
            path=self.file,
            daemon=daemon,
            targets=tuple(targets),
            modules=modules,
            listeners=tuple(listeners),
            lab=lab,
        )

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(key, f"must be a table ([{key}]), not {_kind(value)}")
            return {}
        return value

    def known_keys(self, table: Mapping[str, Any], where: str, allowed: Sequence[str]) -> None:
        for key in table:
            if key not in allowed:
                self.problem(f"{where}.{key}", _unknown(key, allowed, "key"))

    # -- [daemon] ---------------------------------------------------------------------

    def daemon(self, table: Mapping[str, Any]) -> DaemonSettings | None:
        self.known_keys(table, "daemon", DAEMON_KEYS)
        log_dir = self.string(table, "daemon", "log_dir", "logs")
        listen = self.string(table, "daemon", "metrics_listen", DEFAULT_METRICS_LISTEN)
        host, port = "127.0.0.1", 9130
        if listen is not None:
            try:
                host, port = parse_listen(listen)
            except ValueError as exc:
                self.problem("daemon.metrics_listen", str(exc))
        concurrency = self.integer(table, "daemon", "concurrency", 100, minimum=1)
        max_bytes = self.integer(
            table, "daemon", "log_max_bytes", DEFAULT_LOG_MAX_BYTES, minimum=1024
        )
        backups = self.integer(table, "daemon", "log_backups", DEFAULT_LOG_BACKUPS, minimum=0)
        crl_refresh = self.number(table, "daemon", "crl_refresh", 60.0, 86400.0 * 7)
        patterns = self.strings(table, "daemon", "allowed_targets")
        state_file = self.state_file(table)
        syslog = self.syslog(table)
        for index, pattern in enumerate(patterns):
            if "://" not in pattern:
                self.problem(
                    f"daemon.allowed_targets[{index}]",
                    f"{pattern!r} is not a URL pattern (for example 'tls://127.0.0.1:*')",
                )
        if log_dir is None or concurrency is None or max_bytes is None or backups is None:
            return None
        return DaemonSettings(
            log_dir=self.resolve(log_dir),
            metrics_host=host,
            metrics_port=port,
            concurrency=concurrency,
            allowed_targets=tuple(patterns),
            log_max_bytes=max_bytes,
            log_backups=backups,
            crl_refresh=DEFAULT_CRL_REFRESH if crl_refresh is None else crl_refresh,
            state_file=state_file,
            syslog=syslog,
        )

    def syslog(self, table: Mapping[str, Any]) -> SyslogAddress | None:
        """``[daemon] syslog``: ``udp://HOST:PORT`` or ``tcp://HOST:PORT``, or None."""
        text = self.string(table, "daemon", "syslog", None)
        if text is None:
            return None
        try:
            return parse_address(text)
        except ValueError as exc:
            self.problem("daemon.syslog", str(exc))
            return None

    def state_file(self, table: Mapping[str, Any]) -> str | None:
        """``[daemon] state_file``: a path (resolved), "" for none, None when not given."""
        value = table.get("state_file")
        if value is None or value == "":
            return value
        if not isinstance(value, str) or not value.strip():
            what = "a blank string" if isinstance(value, str) else _kind(value)
            self.problem(
                "daemon.state_file", f'must be a file name, or "" to keep no state, not {what}'
            )
            return None
        path = self.resolve(value)
        if os.path.isdir(path):
            self.problem("daemon.state_file", f"{path!r} is a folder, not a file name")
            return None
        return path

    # -- targets and modules ----------------------------------------------------------

    def targets(self, raw: Any, defaults: Mapping[str, Any]) -> list[TargetConfig]:
        if not isinstance(raw, list):
            self.problem("target", f"must be an array of tables ([[target]]), not {_kind(raw)}")
            return []
        targets: list[TargetConfig] = []
        seen: dict[str, int] = {}
        for index, entry in enumerate(raw):
            where = f"target[{index}]"
            if not isinstance(entry, dict):
                self.problem(where, f"must be a table, not {_kind(entry)}")
                continue
            self.known_keys(entry, where, ("url", *SETTING_KEYS))
            url = entry.get("url")
            own = self.settings_values(entry, where)
            settings = self.settings({**defaults, **own}, where, own)
            if url is None:
                self.problem(f"{where}.url", "is missing: every [[target]] needs a url")
                continue
            if not isinstance(url, str):
                self.problem(f"{where}.url", f"must be a string, not {_kind(url)}")
                continue
            try:
                target = parse_target(url, servername=settings.servername if settings else None)
            except TargetError as exc:
                self.problem(f"{where}.url", str(exc))
                continue
            if target.url in seen:
                self.problem(f"{where}.url", f"{url!r} is already target[{seen[target.url]}].url")
                continue
            compare = entry.get("sni_compare") is True
            if compare and (problem := sni_compare_problem(target.scheme)):
                self.problem(f"{where}.sni_compare", problem)
                continue
            seen[target.url] = index
            if settings is not None:
                targets.append(TargetConfig(target, settings))
        return targets

    def modules(self, raw: Any, defaults: Mapping[str, Any]) -> dict[str, Settings]:
        if not isinstance(raw, dict):
            self.problem("module", f"must be tables ([module.NAME]), not {_kind(raw)}")
            return {}
        modules: dict[str, Settings] = {}
        for name, entry in raw.items():
            where = f"module.{name}"
            if not isinstance(entry, dict):
                self.problem(where, f"must be a table, not {_kind(entry)}")
                continue
            if "url" in entry:
                self.problem(f"{where}.url", "a module has no url: /probe takes it as ?target=URL")
            self.known_keys(entry, where, ("url", *SETTING_KEYS))
            own = self.settings_values(entry, where)
            settings = self.settings({**defaults, **own}, where, own)
            if settings is not None:
                modules[name] = settings
        return modules

    def reach_values(self, table: Mapping[str, Any], where: str) -> dict[str, Any]:
        """``sni_compare`` (true or false) and ``family`` (4 or 6), checked."""
        values: dict[str, Any] = {}
        flag = self.boolean(table, where, "sni_compare")
        if flag is not None:
            values["sni_compare"] = flag
        family = self.integer(table, where, "family", None, minimum=None)
        if family is not None and family not in (4, 6):
            self.problem(f"{where}.family", f"must be 4 or 6, not {family}")
        elif family is not None:
            values["family"] = family
        return values

    def settings_values(self, table: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Type-checked, path-resolved values of one table; bad ones are left out."""
        values: dict[str, Any] = {}
        if "ca" in table:
            values["ca"] = tuple(self.files(table, where, "ca"))
        if "crl" in table:
            values["crl"] = tuple(self.crls(table, where))
        if "crl_check" in table:
            mode = self.string(table, where, "crl_check", None)
            if mode is not None and mode not in ("leaf", "chain"):
                self.problem(f"{where}.crl_check", f"{mode!r} is neither 'leaf' nor 'chain'")
            elif mode is not None:
                values["crl_check"] = mode
        for key in ("cert", "key"):
            if key in table:
                path = self.file_name(table, where, key)
                # A bad file is reported once, here; the pair is not reported again as half.
                values[key] = _REPORTED if path is None else path
        if "proxy" in table:
            url = self.string(table, where, "proxy", None)
            try:
                values["proxy"] = None if url is None else parse_proxy_url(url, label="")
            except ProxyURLError as exc:
                self.problem(f"{where}.proxy", str(exc))
                values["proxy"] = _REPORTED
        for key in ("servername", "user", "password_env", "key_password_env", "proxy_password_env"):
            text = self.string(table, where, key, None)
            if text is not None:
                values[key] = text
        if "servername" in values and (problem := servername_problem(values["servername"])):
            self.problem(f"{where}.servername", f"{values['servername']!r} {problem}")
            del values["servername"]
        for key in ("system_trust", "data_channel", "crl_from_cdp", "versions", "followups"):
            flag = self.boolean(table, where, key)
            if flag is not None:
                values[key] = flag
        values.update(self.reach_values(table, where))
        for key, low, high in (("interval", 1.0, 86400.0 * 7), ("timeout", 0.1, 3600.0)):
            number = self.number(table, where, key, low, high)
            if number is not None:
                values[key] = number
        for key in ("warn_days", "critical_days"):
            days = self.integer(table, where, key, None, minimum=0)
            if days is not None:
                values[key] = days
        if "labels" in table:
            labels = self.labels(table["labels"], f"{where}.labels")
            if labels is not None:
                values["labels"] = labels
        if "password_env" in values and self.environment(values["password_env"], where) is None:
            del values["password_env"]
        proxy_secret = values.get("proxy_password_env")
        if proxy_secret is not None and self.environment(proxy_secret, where, "proxy_") is None:
            values["proxy_password_env"] = _REPORTED
        secret_env = values.get("key_password_env")
        if secret_env is not None and self.environment(secret_env, where, "key_") is None:
            values["key_password_env"] = _REPORTED  # the key is not checked without it
        return values

    def environment(self, name: str, where: str, prefix: str = "") -> str | None:
        """The variable ``name`` of the key ``{where}.{prefix}password_env``; None, reported."""
        key = f"{where}.{prefix}password_env"
        if not _ENV_NAME.match(name):
            self.problem(key, f"{name!r} is not a variable name")
            return None
        if name not in self.environ:
            self.problem(key, f"the environment variable {name} is not set")
            return None
        return self.environ[name]

    def settings(
        self, values: Mapping[str, Any], where: str, own: Mapping[str, Any] | None = None
    ) -> Settings | None:
        """Settings from merged values; None when they do not fit together.

        A mismatch is reported where one of its keys was written (``own``), so a
        mistake in [defaults] is reported once, not again for every target.
        """
        ok = True
        mine = values if own is None else own
        cert, key = values.get("cert"), values.get("key")
        secret_env = values.get("key_password_env")
        key_password = None if secret_env in (None, _REPORTED) else self.environ[secret_env]
        if _REPORTED in (cert, key, secret_env):
            ok = False
        elif (cert is None) != (key is None):
            missing = "key" if key is None else "cert"
            if "cert" in mine or "key" in mine:
                self.problem(f"{where}.{missing}", "a client certificate needs both cert and key")
            ok = False
        elif cert is not None and key is not None:
            mismatch = self.pair_problem(cert, key, key_password)
            if mismatch is not None:
                if {"cert", "key", "key_password_env"} & set(mine):
                    self.problem(f"{where}.key", mismatch)
                ok = False
        defaults = ProbeOptions()
        warn = values.get("warn_days", defaults.warn_days)
        critical = values.get("critical_days", defaults.critical_days)
        if critical > warn:
            if "warn_days" in mine or "critical_days" in mine:
                self.problem(
                    f"{where}.critical_days",
                    f"{critical} is more than warn_days ({warn}); critical comes later than warn",
                )
            ok = False
        proxy = self.proxy_settings(values, where, mine)
        if not ok or proxy is _REPORTED:
            return None
        password_env = values.get("password_env")
        options = ProbeOptions(
            trust=TrustConfig(
                ca_files=values.get("ca", ()),
                system_trust=values.get("system_trust", False),
                crl_files=values.get("crl", ()),
                crl_check=values.get("crl_check", "leaf"),
                cert_file=cert,
                key_file=key,
                key_password=key_password,
            ),
            timeout=values.get("timeout", defaults.timeout),
            user=values.get("user", defaults.user),
            password=self.environ[password_env] if password_env else defaults.password,
            data_channel=values.get("data_channel", defaults.data_channel),
            crl_from_cdp=values.get("crl_from_cdp", defaults.crl_from_cdp),
            versions=values.get("versions", defaults.versions),
            followups=values.get("followups", defaults.followups),
            proxy=proxy if isinstance(proxy, ProxySettings) else None,
            sni_compare=values.get("sni_compare", defaults.sni_compare),
            family=values.get("family", defaults.family),
            warn_days=warn,
            critical_days=critical,
            caller=DAEMON_PROBE,
        )
        # Thousands of targets usually share a few sets of options: keep one object of each.
        options = self.options.setdefault(options, options)
        return Settings(
            options=options,
            servername=values.get("servername"),
            labels=values.get("labels", {}),
            interval=values.get("interval", DEFAULT_INTERVAL),
        )

    def proxy_settings(
        self, values: Mapping[str, Any], where: str, mine: Mapping[str, Any]
    ) -> ProxySettings | str | None:
        """The proxy of merged values with its password; ``_REPORTED`` when unusable."""
        proxy, secret_env = values.get("proxy"), values.get("proxy_password_env")
        if _REPORTED in (proxy, secret_env):
            return _REPORTED
        if secret_env is not None and (proxy is None or proxy.user is None):
            if "proxy" in mine or "proxy_password_env" in mine:
                need = "a proxy" if proxy is None else "a user in the proxy URL"
                self.problem(
                    f"{where}.proxy_password_env",
                    f"is the proxy user's password: it needs {need} "
                    '(proxy = "http://USER@HOST:PORT")',
                )
            return _REPORTED
        if proxy is None:
            return None
        password = self.environ[secret_env] if secret_env is not None else None
        return ProxySettings(proxy.with_password(password))

    def pair_problem(self, cert: str, key: str, password: str | None) -> str | None:
        """Why the key of ``key`` cannot be opened or does not belong to ``cert``; cached."""
        if (cert, key, password) not in self.pairs:
            self.pairs[cert, key, password] = key_mismatch(cert, key, password)
        return self.pairs[cert, key, password]

    # -- [lab] ------------------------------------------------------------------------

    def lab(self, table: Mapping[str, Any], daemon: DaemonSettings | None) -> LabSettings | None:
        self.known_keys(table, "lab", LAB_KEYS)
        enabled = self.boolean(table, "lab", "enabled")
        bind = self.string(table, "lab", "bind", "127.0.0.1")
        if bind is not None:
            try:
                ipaddress.ip_address(bind)
            except ValueError:
                self.problem("lab.bind", f"{bind!r} is not an IP address (for example 127.0.0.1)")
        # Imported here: the lab's manifest module imports this one.
        base_port = self.integer(table, "lab", "base_port", DEFAULT_BASE_PORT, minimum=None)
        if base_port is not None and (problem := base_port_problem(base_port)) is not None:
            self.problem("lab.base_port", problem)
            base_port = None
        state_dir = self.string(table, "lab", "state_dir", None)
        interval = self.number(table, "lab", "interval", 1.0, 86400.0)
        timeout = self.number(table, "lab", "timeout", 0.1, 3600.0)
        if not enabled or daemon is None:
            return None
        return LabSettings(
            bind=bind or "127.0.0.1",
            base_port=base_port or DEFAULT_BASE_PORT,
            state_dir=self.resolve(state_dir) if state_dir else os.path.join(daemon.log_dir, "lab"),
            interval=60.0 if interval is None else interval,
            timeout=10.0 if timeout is None else timeout,
        )

    # -- listeners --------------------------------------------------------------------

    def listeners(self, raw: Any) -> list[ListenerConfig]:
        if not isinstance(raw, list):
            self.problem("listener", f"must be an array of tables ([[listener]]), not {_kind(raw)}")
            return []
        listeners: list[ListenerConfig] = []
        for index, entry in enumerate(raw):
            where = f"listener[{index}]"
            if not isinstance(entry, dict):
                self.problem(where, f"must be a table, not {_kind(entry)}")
                continue
            self.known_keys(entry, where, LISTENER_KEYS)
            url = self.string(entry, where, "url", None)
            if url is None:
                if "url" not in entry:
                    self.problem(f"{where}.url", "is missing: every [[listener]] needs a url")
                continue
            try:
                parse_target(url)
            except TargetError as exc:
                self.problem(f"{where}.url", str(exc))
            cert = self.file_name(entry, where, "cert")
            key = self.file_name(entry, where, "key")
            for name in ("cert", "key"):
                if name not in entry:
                    self.problem(f"{where}.{name}", "is missing: a listener serves a certificate")
            secret_env = self.string(entry, where, "key_password_env", None)
            key_password = None
            if secret_env is not None:
                key_password = self.environment(secret_env, where, "key_")
            if None not in (cert, key) and (secret_env is None or key_password is not None):
                assert cert is not None and key is not None
                mismatch = self.pair_problem(cert, key, key_password)
                if mismatch is not None:
                    self.problem(f"{where}.key", mismatch)
            listeners.append(
                ListenerConfig(
                    url=url,
                    cert=cert,
                    key=key,
                    client_ca=tuple(self.files(entry, where, "client_ca")),
                    crl=tuple(self.crls(entry, where)),
                    expect_cn=self.string(entry, where, "expect_cn", None),
                    require_client_cert=bool(self.boolean(entry, where, "require_client_cert")),
                    key_password=key_password,
                    max_connections=self.integer(entry, where, "max_connections", None, minimum=1),
                    max_per_address=self.integer(entry, where, "max_per_address", None, minimum=1),
                )
            )
        return listeners

    # -- typed values -----------------------------------------------------------------

    def resolve(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.base, os.path.expanduser(path)))

    def string(
        self, table: Mapping[str, Any], where: str, key: str, default: str | None
    ) -> str | None:
        value = table.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(f"{where}.{key}", f"must be a string, not {_kind(value)}")
            return None
        if not value.strip():
            self.problem(f"{where}.{key}", "must not be empty")
            return None
        return value

    def strings(self, table: Mapping[str, Any], where: str, key: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list):
            self.problem(f"{where}.{key}", f"must be a list of strings, not {_kind(value)}")
            return []
        good = []
        for index, item in enumerate(value):
            if isinstance(item, str) and item.strip():
                good.append(item)
            else:
                self.problem(
                    f"{where}.{key}[{index}]",
                    f"must be a non-empty string, not {_kind(item)}",
                )
        return good

    def _checked_file(self, key: str, name: str, kind: str = "") -> str | None:
        path = self.resolve(name)
        # Thousands of targets share a few files: read and parse each one once.
        if (kind, path) not in self.parsed:
            self.parsed[kind, path] = file_problem(kind, path)
        wrong = self.parsed[kind, path]
        if wrong is not None:
            self.problem(key, wrong)
            return None
        return path

    def file_name(self, table: Mapping[str, Any], where: str, key: str) -> str | None:
        name = self.string(table, where, key, None)
        return None if name is None else self._checked_file(f"{where}.{key}", name, key)

    def files(self, table: Mapping[str, Any], where: str, key: str) -> list[str]:
        names = self.strings(table, where, key)
        raw = table.get(key, [])
        paths = []
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            if item in names:
                path = self._checked_file(f"{where}.{key}[{index}]", item, key)
                if path is not None:
                    paths.append(path)
        return paths

    def crls(self, table: Mapping[str, Any], where: str) -> list[str]:
        """CRL sources: files (resolved and checked) or http:// URLs (syntax checked)."""
        from diagnostics.model.revocation import check_url, is_url

        names = self.strings(table, where, "crl")
        raw = table.get("crl", [])
        sources = []
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            if item not in names:
                continue
            key = f"{where}.crl[{index}]"
            if is_url(item):
                problem = check_url(item)
                if problem is not None:
                    self.problem(key, problem)
                else:
                    sources.append(item)
                continue
            path = self._checked_file(key, item, "crl")
            if path is not None:
                sources.append(path)
        return sources

    def boolean(self, table: Mapping[str, Any], where: str, key: str) -> bool | None:
        if key not in table:
            return None
        value = table[key]
        if not isinstance(value, bool):
            self.problem(f"{where}.{key}", f"must be true or false, not {_kind(value)}")
            return None
        return value

    def number(
        self, table: Mapping[str, Any], where: str, key: str, low: float, high: float
    ) -> float | None:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(f"{where}.{key}", f"must be a number of seconds, not {_kind(value)}")
            return None
        if not low <= value <= high:
            self.problem(f"{where}.{key}", f"{value} is out of range ({low:g} to {high:g})")
            return None
        return float(value)

    def integer(
        self,
        table: Mapping[str, Any],
        where: str,
        key: str,
        default: int | None,
        *,
        minimum: int | None,
    ) -> int | None:
        value = table.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(f"{where}.{key}", f"must be a whole number, not {_kind(value)}")
            return None
        if minimum is not None and value < minimum:
            self.problem(f"{where}.{key}", f"must be at least {minimum}, not {value}")
            return None
        return value

    def labels(self, value: Any, where: str) -> dict[str, str] | None:
        if not isinstance(value, dict):
            self.problem(where, f"must be a table of strings, not {_kind(value)}")
            return None
        labels: dict[str, str] = {}
        for name, text in value.items():
            if not _LABEL_NAME.match(name):
                self.problem(f"{where}.{name}", "is not a valid label name (letters, digits, _)")
            elif not isinstance(text, str):
                self.problem(f"{where}.{name}", f"must be a string, not {_kind(text)}")
            else:
                labels[name] = text
        return labels


# -- file contents --------------------------------------------------------------------------


def _certificates(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def _crl(data: bytes) -> None:
    if b"-----BEGIN" in data:
        x509.load_pem_x509_crl(data)
    else:
        x509.load_der_x509_crl(data)


# What each kind of file must hold: its parser, what it is, what to say when it does not parse.
_CERTIFICATES = (
    _certificates,
    "a certificate",
    "holds no certificate that parses (PEM bundle or DER expected)",
)
_CONTENTS = {
    "ca": _CERTIFICATES,
    "client_ca": _CERTIFICATES,
    "crl": (_crl, "a CRL", "is not a CRL that parses (PEM or DER expected)"),
    "cert": (
        x509.load_pem_x509_certificates,
        "a certificate",
        "is not a PEM certificate (chain) that parses",
    ),
}


def file_problem(kind: str, path: str) -> str | None:
    """What is wrong with the contents of a ``kind`` file (``ca``, ``crl``, ``cert``…), or None.

    Checked at start and at reload so that a file that exists but does not parse is a
    configuration error, not a failure of every probe that uses it.  An encrypted key is
    checked later, with its passphrase (:func:`key_mismatch`).
    """
    if kind == "key":
        try:
            load_private_key(path, "file", None, passphrase_option="key_password_env")
        except EncryptedKeyError:
            return None
        except FileError as exc:
            return str(exc)
        return None
    try:
        data = read_bounded(path)
    except FileError as exc:
        return str(exc)
    if kind not in _CONTENTS:
        return None
    parse, wanted, fallback = _CONTENTS[kind]
    try:
        parse(data)
    except ValueError:
        return f"file {path!r} {wrong_material(data, wanted) or fallback}"
    return None


def key_mismatch(cert_path: str, key_path: str, password: str | None = None) -> str | None:
    """A sentence when the private key cannot be opened (encrypted without ``password``, or
    with a wrong one) or does not belong to the certificate, else None."""
    try:
        cert = x509.load_pem_x509_certificates(read_bounded(cert_path))[0]
    except (FileError, ValueError):
        return None  # reported by file_problem
    try:
        key = load_private_key(key_path, "file", password, passphrase_option="key_password_env")
    except EncryptedKeyError as exc:
        return str(exc)
    except FileError:
        return None  # reported by file_problem
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        return f"the private key in {key_path!r} does not belong to the certificate {cert_path!r}"
    return None


def _kind(value: Any) -> str:
    kinds: Mapping[type, str] = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    for cls, name in kinds.items():
        if isinstance(value, cls):
            return f"{name} ({value!r})" if cls in (bool, int, float, str) else name
    return type(value).__name__


def _unknown(key: str, allowed: Sequence[str], what: str) -> str:
    from difflib import get_close_matches

    close = get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(allowed)}"
    return f"unknown {what} {key!r}{hint}"


def matches_allowed(url: str, patterns: Sequence[str]) -> bool:
    """True when ``url`` matches one of the ``allowed_targets`` glob patterns."""
    from fnmatch import fnmatchcase

    return any(fnmatchcase(url, pattern) for pattern in patterns)


def lab_targets(
    manifest: Sequence[ManifestEntry], *, interval: float, timeout: float
) -> list[TargetConfig]:
    """One daemon target per manifest entry, with the lab's own trust material."""
    base = ProbeOptions(timeout=timeout)
    return [
        TargetConfig(
            parse_target(entry.url),
            Settings(
                options=entry.probe_options(base),
                labels={LAB_LABEL: entry.name},
                interval=interval,
            ),
        )
        for entry in manifest
    ]
