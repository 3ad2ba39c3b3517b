"""Network audit for the privacy tests: put this folder on PYTHONPATH and name a log file in
``PELVIO_NET_AUDIT_LOG``; every Python process started that way appends one JSON line per network event.

An audit hook sees every connect, name lookup, datagram and urllib request the interpreter makes, however
short, which sampling the process's sockets cannot. Without the variable nothing is installed. A
``sitecustomize`` that this one shadows on ``sys.path`` still runs.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
from urllib.parse import urlsplit

NET_EVENTS = frozenset({"socket.__new__", "socket.bind", "socket.connect", "socket.sendto", "socket.sendmsg",
                        "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo",
                        "urllib.Request"})
SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn"})


def _run_shadowed_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


def _record(event: str, args: tuple) -> dict:
    """One log line: the event, the socket family if any, and the peer as ``host`` (None if not an address)."""
    if event == "urllib.Request":
        return {"host": urlsplit(args[0]).hostname, "detail": str(args[0])}
    if event in SPAWN_EVENTS:
        return {"detail": repr(args[:2])[:300]}
    if event == "socket.__new__":  # (socket, family, type, proto): no peer yet
        return {"family": str(args[1]), "host": None, "detail": repr(args[1:])}
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        host = args[0]
    elif event == "socket.getnameinfo":
        host = args[0][0]
    else:  # bind/connect/sendto/sendmsg: (socket, address)
        family = getattr(args[0], "family", None)
        address = args[1]
        if isinstance(address, (tuple, list)) and address:
            return {"family": getattr(family, "name", str(family)), "host": str(address[0]),
                    "detail": repr(address)}
        return {"family": getattr(family, "name", str(family)), "host": None, "detail": repr(address)}
    host = host.decode(errors="replace") if isinstance(host, bytes) else host
    return {"host": None if host is None else str(host), "detail": repr(args[:2])}


def _install(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def hook(event: str, args: tuple) -> None:
        if event in NET_EVENTS or event in SPAWN_EVENTS:
            line = {"pid": os.getpid(), "event": event, **_record(event, args)}
            os.write(fd, (json.dumps(line) + "\n").encode())

    sys.addaudithook(hook)
    os.write(fd, (json.dumps({"pid": os.getpid(), "event": "audit.start", "host": None,
                              "detail": " ".join(sys.orig_argv)}) + "\n").encode())


_run_shadowed_sitecustomize()
if os.environ.get("PELVIO_NET_AUDIT_LOG"):
    _install(os.environ["PELVIO_NET_AUDIT_LOG"])
