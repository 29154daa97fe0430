"""A hostile officer API for the pull tests: ``python hostile_api.py STATUS BYTES``.

Listens on a free loopback port (printed on the first line of stdout) and
answers every request with STATUS and BYTES of body sent without a length
(-1: without end), then closes. Run as its own process, like a real server.
"""

import socket
import sys
import threading

BLOCK = b"A" * (1 << 20)


def answer(conn, status, size):
    try:
        conn.recv(65536)
        conn.sendall(f"HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\n"
                     "Connection: close\r\n\r\n".encode())
        sent = 0
        while size < 0 or sent < size:
            piece = BLOCK if size < 0 else BLOCK[:size - sent]
            conn.sendall(piece)
            sent += len(piece)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    status, size = int(sys.argv[1]), int(sys.argv[2])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=answer, args=(conn, status, size), daemon=True).start()


if __name__ == "__main__":
    main()
