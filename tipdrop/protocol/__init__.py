"""What two trust zones must agree on, byte for byte.

The formats, limits and vocabulary shared by the server, the officer's
workstation and the reporter's device: receipts, documents inside the
ciphertexts, bundles, acknowledgements, signed requests. Imports only
``tipdrop.crypto``, ``tipdrop.common`` and ``tipdrop.errors`` (docs/design.md).
"""
