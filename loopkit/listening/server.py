"""The listening test's web server (paper, Listening Test): waitress, with a connection limit and timeouts suited to
a listening test, so that slow or stalled clients cannot lock listeners out.

Kept apart from the app (``loopkit.listening.app``) and free of heavy imports, so the command line can show these
defaults in its help without importing Flask.
"""

from __future__ import annotations

import time

from loopkit.errors import LoopkitError

#: Open connections the server holds at once (waitress's default is 100). A listener's browser opens up to six, so
#: a panel of 20 at once needs about 120; and slow clients (a byte a second, or a stalled network) each hold one
#: for as long as they like: with waitress's 100, about a hundred of them locked every listener out. Connections
#: cost a socket and a small buffer each (waitress reads requests asynchronously; threads serve only whole ones).
CONNECTION_LIMIT = 1000
#: Seconds a connection may stay silent before it is closed (waitress's default is 120): browsers' idle keep-alive
#: connections and stalled clients free their slots sooner. A client that trickles bytes is never silent: the
#: request deadline closes it.
CHANNEL_TIMEOUT_S = 30
#: Seconds a request (its head and its body) may take to arrive whole, from its first byte: a client sending a byte
#: every 10 s was never silent for 30 s, so it held its connection for as long as it liked, and 110 of them held
#: every slot of a 100-connection server. The app's requests are a few hundred bytes; a browser sends each at once.
#: Checked when bytes arrive, so a trickling connection is closed at most this plus ``CHANNEL_TIMEOUT_S`` after
#: its request began (a silent one by the channel timeout).
REQUEST_DEADLINE_S = 30
#: Largest request head accepted, in bytes (waitress's default is 256 KB): the app's requests carry one cookie.
MAX_REQUEST_HEADER_BYTES = 16 * 1024
#: Largest request body accepted, in bytes: a rating is a few dozen. waitress checks a stated Content-Length against
#: it as soon as the head has arrived, and answers 413 without reading the body; a chunked body is cut off (413) once
#: past it. Its default, 1 GiB, let waitress read whole bodies, spooled to temporary files past 512 KB, before the
#: app's own limit answered: four clients put 3.9 GB in the temporary folder in 11.5 s.
MAX_REQUEST_BODY_BYTES = 16 * 1024
_SPARE_FILES = 64  # file descriptors besides the connections: the database, audio files, waitress's own


def _deadline_channel(deadline: float):
    """waitress's connection class, closing a connection whose request has not arrived whole ``deadline`` seconds
    after its first byte (checked as bytes arrive; waitress's own idle timeout counts only silence)."""
    from waitress.channel import HTTPChannel

    class RequestDeadlineChannel(HTTPChannel):
        request_began = 0.0

        def received(self, data):
            now = time.time()  # waitress's clock for its own timeouts
            if self.request is None:  # no request under way: these bytes begin one
                self.request_began = now
            elif now - self.request_began > deadline:
                self.will_close = True  # closed by the server's loop (``writable``), as its own timeout does
                return False
            return super().received(data)

    return RequestDeadlineChannel


def make_server(app, host: str = "127.0.0.1", port: int = 8000, threads: int = 8,
                connection_limit: int = CONNECTION_LIMIT, channel_timeout: float = CHANNEL_TIMEOUT_S,
                request_deadline: float = REQUEST_DEADLINE_S):  # fmt: skip
    """The waitress server of an app, with the connection limit and timeouts of a listening test (not started:
    ``.run()`` serves until Ctrl-C, ``.close()`` stops it from another thread): a connection is closed after
    ``channel_timeout`` seconds of silence, or when a request has not arrived whole ``request_deadline`` seconds
    after its first byte; a body over ``MAX_REQUEST_BODY_BYTES`` is answered 413 unread (nothing is spooled).

    The open-file limit of the process is raised to fit ``connection_limit`` where the system allows; where it
    does not, the connection limit is lowered to what fits (``server.adj.connection_limit`` says what it is).
    waitress polls its sockets with ``poll`` (``select`` cannot watch more than 1,024).
    """
    import resource

    from waitress import create_server

    if connection_limit < 1:
        raise LoopkitError(f"the connection limit must be at least 1, got {connection_limit}")
    if not channel_timeout > 0:
        raise LoopkitError(f"the channel timeout must be positive, got {channel_timeout}")
    if not request_deadline > 0:
        raise LoopkitError(f"the request deadline must be positive, got {request_deadline}")
    need = connection_limit + threads + _SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        allowed = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (allowed, hard))
            soft = allowed
        except (ValueError, OSError):
            pass
        connection_limit = max(1, min(connection_limit, soft - threads - _SPARE_FILES))
    timeout = max(1, round(channel_timeout))
    from waitress.server import BaseWSGIServer

    sockets: dict = {}  # waitress's socket map: the listening sockets, then the connections
    try:
        server = create_server(app, map=sockets, host=host, port=port, threads=threads, ident="loopkit",
                               connection_limit=connection_limit, channel_timeout=timeout,
                               cleanup_interval=max(1, min(30, timeout // 3)), asyncore_use_poll=True,
                               max_request_header_size=MAX_REQUEST_HEADER_BYTES,
                               # waitress refuses a body of this size or more: one byte over the limit
                               max_request_body_size=MAX_REQUEST_BODY_BYTES + 1)  # fmt: skip
    except OSError as exc:  # the port is taken, or the address cannot be bound
        raise LoopkitError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    channel = _deadline_channel(float(request_deadline))
    for listening in sockets.values():  # one per address (a host name may have an IPv4 and an IPv6 one)
        if isinstance(listening, BaseWSGIServer):
            listening.channel_class = channel
    return server
