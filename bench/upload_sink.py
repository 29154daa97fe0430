"""The bound of the multipart path: a bare WSGI app that parses an upload into a sink.

It runs the same ``werkzeug.sansio.multipart.MultipartDecoder`` loop as
tipdrop/web/upload.py (same read size, same limits), keeps the text fields
and throws every file byte away: no Flask, no encryption, no disk. Served by
gunicorn with the same settings as ``tipdrop serve`` (bench/upload.py), it is
what the server could reach if storing an upload cost nothing.
Benchmarks only; never part of tipdrop.
"""

import json

from werkzeug.wsgi import get_input_stream
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from tipdrop.web.upload import MAX_FIELD_BYTES, MAX_PARTS, READ_SIZE


def app(environ, start_response):
    content_type = environ.get("CONTENT_TYPE", "")
    boundary = content_type.partition("boundary=")[2].strip('"').encode("ascii")
    # The stream tipdrop's views read: Flask's request.stream is this wrapper, with
    # the app's MAX_CONTENT_LENGTH (a limit above the body's length) as its bound.
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = get_input_stream(environ, max_content_length=length + 1024 * 1024)
    decoder = MultipartDecoder(boundary, max_form_memory_size=MAX_FIELD_BYTES, max_parts=MAX_PARTS)
    fields, part, buffer, discarded, finished = {}, None, None, 0, False
    while not finished:
        chunk = stream.read(READ_SIZE)
        decoder.receive_data(chunk or None)
        event = decoder.next_event()
        while not isinstance(event, NeedData):
            if isinstance(event, Epilogue):
                finished = True
                break
            if isinstance(event, Field):
                part, buffer = event.name, bytearray()
            elif isinstance(event, File):
                part, buffer = event.name, None
            elif isinstance(event, Data):
                if buffer is not None:
                    buffer += event.data
                    if not event.more_data:
                        fields[part] = bytes(buffer).decode("utf-8")
                else:
                    discarded += len(event.data)  # the sink
            event = decoder.next_event()
        if not chunk and not finished:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"cut short"]
    body = json.dumps({"fields": sorted(fields), "discarded": discarded}).encode()
    start_response("201 Created", [("Content-Type", "application/json"),
                                   ("Content-Length", str(len(body)))])
    return [body]


def serve(port, workers):
    """Serve the sink as ``tipdrop serve`` serves the app (tipdrop/server.py's options)."""
    from tipdrop.server import _Gunicorn

    options = {"bind": f"127.0.0.1:{port}", "workers": workers, "worker_class": "gthread",
               "threads": 4, "accesslog": None, "errorlog": "-", "loglevel": "warning",
               "timeout": 120, "graceful_timeout": 10}
    _Gunicorn(lambda: app, options).run()


if __name__ == "__main__":
    import sys

    serve(int(sys.argv[1]), int(sys.argv[2]))
