"""Every exception tlsdiag defines shares one base, so that a caller can catch them all."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import diagnostics
from diagnostics.model.errors import TlsdiagError


def defined_exceptions() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(diagnostics.__path__, "diagnostics."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_error_class_derives_from_the_base() -> None:
    exceptions = defined_exceptions()
    assert len(exceptions) >= 15  # the walk reached the whole package
    assert [e.__qualname__ for e in exceptions if not issubclass(e, TlsdiagError)] == []
