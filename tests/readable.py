"""select() for the tests, without its limit on descriptor numbers.

``select.select`` takes no descriptor of 1024 or more ("filedescriptor out
of range in select()"), so a test using it failed as soon as the process
held that many, whatever the test itself did. :func:`readable` asks epoll
(selectors.DefaultSelector), which takes any.
"""

import selectors


def readable(socks, timeout):
    """Those of ``socks`` with bytes to read (or closed by the peer), waiting at most ``timeout``
    seconds for one (0: only look; None: wait for one); in the order given."""
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        ready = {key.fileobj for key, _ in selector.select(timeout)}
    return [sock for sock in socks if sock in ready]
