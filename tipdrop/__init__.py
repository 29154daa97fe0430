"""tipdrop: an anonymous tip drop for police.

Reports are encrypted on arrival to the police unit's public key; the server
keeps only ciphertext and Argon2id-derived receipt verifiers.
"""

__version__ = "0.1.0"
