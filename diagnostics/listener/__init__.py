"""The server-side listener: partners point their real clients here and get a diagnosis.

``listen(reactor, options, on_session)`` (in :mod:`.service`) starts one; every
finished connection becomes a judged :class:`~diagnostics.model.result.ProbeResult`.
"""
