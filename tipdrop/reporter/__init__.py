"""The reporter zone: the reference client that seals on the reporter's
own computer and talks to the server only through the public API.
"""
