# -*- test-case-name: tests.lab.test_lab -*-
"""What clients need to probe the lab: the manifest and the files of the state folder.

The manifest is a list of ``{"name", "url", "ca_file", "expect", "fault",
"command", ...options}`` where ``expect`` is the primary finding id a probe must
report (or ``"ok"``) and the options are named like the probe's command-line
options (``cert``, ``key``, ``crl``, ``fetch_issuer``, ``timeout``).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from cryptography.hazmat.primitives import serialization

from diagnostics.lab.endpoints import (
    CA_BUNDLE,
    CLIENT_CA,
    CLIENT_CERT,
    CLIENT_KEY,
    CRL_FILE,
    MANIFEST_FILE,
    Endpoint,
    Lab,
    url_host,
)
from diagnostics.model.certificates import key_pem
from diagnostics.model.options import ProbeOptions, TrustConfig
from diagnostics.pki.throwaway_ca import pem

# Options whose values are file names in the state folder.
FILE_OPTIONS = ("cert", "key", "crl")


@attrs.frozen
class ManifestEntry:
    """One lab endpoint as a client sees it."""

    name: str
    url: str
    ca_file: str
    expect: str
    fault: str
    options: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def arguments(self) -> list[str]:
        """The ``tlsdiag probe`` arguments that show this endpoint's fault."""
        args = [self.url, "--ca", self.ca_file]
        for key, value in self.options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value is not False:
                args += [flag, str(value)]
        return args

    @property
    def command(self) -> str:
        """The probe command as one shell line."""
        return shlex.join(["tlsdiag", "probe", *self.arguments])

    def to_json(self) -> dict[str, Any]:
        """The manifest form: fixed keys first, then the probe options."""
        return {
            "name": self.name,
            "url": self.url,
            "ca_file": self.ca_file,
            "expect": self.expect,
            "fault": self.fault,
            "command": self.command,
            **self.options,
        }

    def probe_options(self, base: ProbeOptions | None = None) -> ProbeOptions:
        """Probe options that see this endpoint's fault (``base`` for everything else)."""
        base = base or ProbeOptions()
        crl = self.options.get("crl")
        trust = TrustConfig(
            ca_files=(self.ca_file,),
            crl_files=(crl,) if crl else (),
            cert_file=self.options.get("cert"),
            key_file=self.options.get("key"),
        )
        return attrs.evolve(
            base,
            trust=trust,
            fetch_issuer=bool(self.options.get("fetch_issuer", base.fetch_issuer)),
            timeout=float(self.options.get("timeout", base.timeout)),
        )


def entries(lab: Lab, *, bind: str, base_port: int, state_dir: str) -> list[ManifestEntry]:
    """The manifest of a lab whose state folder is ``state_dir``."""
    host = url_host(bind)

    def entry(endpoint: Endpoint) -> ManifestEntry:
        options = {
            key: os.path.join(state_dir, value) if key in FILE_OPTIONS else value
            for key, value in endpoint.options.items()
        }
        return ManifestEntry(
            name=endpoint.name,
            url=f"{endpoint.scheme}://{host}:{base_port + endpoint.offset}",
            ca_file=os.path.join(state_dir, CA_BUNDLE),
            expect=endpoint.expect,
            fault=endpoint.fault,
            options=options,
        )

    return [entry(e) for e in lab.endpoints]


def write_state(lab: Lab, state_dir: str, manifest: Sequence[ManifestEntry]) -> None:
    """Write the CA bundle, the client identity (key 0600) and its CA, the CRL, the manifest."""
    os.makedirs(state_dir, exist_ok=True)
    hierarchy = lab.hierarchy
    _write(os.path.join(state_dir, CA_BUNDLE), pem([hierarchy.root.cert]))
    _write(os.path.join(state_dir, CLIENT_CERT), pem([hierarchy.client.cert]))
    # For a server of your own (tlsdiag listen --client-ca) that should accept the lab's client.
    _write(os.path.join(state_dir, CLIENT_CA), pem([hierarchy.client_root.cert]))
    _write(os.path.join(state_dir, CLIENT_KEY), key_pem(hierarchy.client.key), mode=0o600)
    _write(
        os.path.join(state_dir, CRL_FILE), hierarchy.crl.public_bytes(serialization.Encoding.PEM)
    )
    write_manifest(os.path.join(state_dir, MANIFEST_FILE), manifest)


def write_manifest(path: str, manifest: Sequence[ManifestEntry]) -> None:
    """The manifest as a JSON list."""
    text = json.dumps([e.to_json() for e in manifest], indent=2) + "\n"
    _write(path, text.encode("utf-8"))


def _write(path: str, data: bytes, *, mode: int = 0o644) -> None:
    # Replace, not overwrite: a client reading the old file never sees half of the new one,
    # and a key file is never readable by others, not even for a moment.
    folder = os.path.dirname(path) or "."
    temporary = os.path.join(folder, f".{os.path.basename(path)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
    os.replace(temporary, path)
