"""The server's view of the keys folder: unit public keys, never private ones.

The server must hold no key that opens a report (docs/design.md, invariant 6), so loading the
keys folder fails loudly if anything in it looks like private key material,
whatever its file name.
"""

from pathlib import Path

from tipdrop.crypto import keys
from tipdrop.errors import KeyFileError, PrivateKeyInKeysDirError, UnknownUnitError

#: Larger files are not keys; they are still scanned for private material.
_SCAN_LIMIT = 1024 * 1024
#: Sub-folder of the keys folder for retired unit keys (see UnitKeys.load).
RETIRED = "retired"


def check_no_private_keys(keys_dir):
    """Raise PrivateKeyInKeysDirError if any file below ``keys_dir`` holds a private key."""
    for path in sorted(Path(keys_dir).rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".key":
            raise PrivateKeyInKeysDirError(str(path))
        with open(path, "rb") as f:
            if keys.looks_private(f.read(_SCAN_LIMIT)):
                raise PrivateKeyInKeysDirError(str(path))


class UnitKeys:
    """All unit public keys found in a keys folder, by unit and by key id."""

    def __init__(self, public_keys, retired=()):
        self._by_unit = {}
        self._by_id = {}
        self._retired = {key.key_id: key for key in retired}
        for key in public_keys:
            self._by_unit.setdefault(key.unit, []).append(key)
            self._by_id[key.key_id] = key
        # Decided once, so a tie between newest keys stops the server at start.
        self._current = {unit: keys.newest(found) for unit, found in self._by_unit.items()}

    @classmethod
    def load(cls, keys_dir):
        """Installed keys are ``keys_dir/*.pub``; retired ones ``keys_dir/retired/*.pub``.

        A retired key still proves the replies it signed before it was
        retired, so reporters keep seeing them; it takes no new tips, reply
        bundles or officer requests.
        """
        check_no_private_keys(keys_dir)
        return cls(_read_all(Path(keys_dir)), _read_all(Path(keys_dir) / RETIRED))

    @property
    def units(self):
        return sorted(self._by_unit)

    def current(self, unit):
        """The key new tips for ``unit`` are encrypted to: its newest."""
        try:
            return self._current[unit]
        except KeyError:
            raise UnknownUnitError(unit) from None

    def installed(self, unit):
        """Every installed (not retired) key of ``unit``, newest first."""
        found = self._by_unit.get(unit)
        if not found:
            raise UnknownUnitError(unit)
        current = self.current(unit)
        return [current] + [key for key in found if key is not current]

    def by_id(self, key_id):
        try:
            return self._by_id[bytes(key_id)]
        except KeyError:
            raise UnknownUnitError(f"no key with id {bytes(key_id).hex()}") from None

    def signer_of_stored_reply(self, key_id):
        """The key that signed a reply already stored: installed or retired."""
        try:
            return self._retired[bytes(key_id)]
        except KeyError:
            return self.by_id(key_id)


def _read_all(folder):
    found = []
    for path in sorted(folder.glob("*.pub")):
        try:
            found.append(keys.parse_public(path.read_bytes()))
        except KeyFileError as e:
            raise KeyFileError(f"{path}: {e.detail or 'not a tipdrop public key'}") from None
    return found
