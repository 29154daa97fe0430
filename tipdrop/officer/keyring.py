"""The workstation's keyring: every private key of one unit the officer holds.

Units rotate keys (docs/protocol.md): each ciphertext names the key id it was made
for, and old keys still open old tips. ``--key`` is therefore one ``.key``
file or a folder of them, all of one unit; each file has one unlock slot per
officer (or one shared passphrase), and one officer's passphrase opens them
all. A key is unlocked only when an item made for it is opened (Argon2id runs
once per key and command, not once per key in the folder); new replies and
notes use the newest key, by ``created``. The name of the slot that unlocked
is the officer the audit log (audit.py) names.
"""

from pathlib import Path

from tipdrop.crypto import envelope, keys
from tipdrop.errors import MissingKeyError, UsageError, WrongPassphraseError
from tipdrop.officer import keyfiles


class Keyring:
    """One unit's private keys, by key id; unlocked on first use."""

    def __init__(self, entries, passphrase=None, officer=None):
        """``entries``: (path or None, UnitPublicKey, UnitPrivateKey or None) triples."""
        if not entries:
            raise UsageError("the keyring holds no key")
        units = sorted({public.unit for _, public, _ in entries})
        if len(units) > 1:
            raise UsageError(f"the keyring mixes units {', '.join(units)}: "
                             "keep one unit's keys per folder")
        self.unit = units[0]
        self._paths = {public.key_id: path for path, public, _ in entries}
        self._publics = {public.key_id: public for _, public, _ in entries}
        self._unlocked = {private.key_id: private for _, _, private in entries if private}
        #: One opener per key id: building one derives the key id again (keys.py),
        #: which an import of 100k tips would otherwise do 100k times.
        self._openers = {}
        self._passphrase = passphrase
        #: Whether this session's unlock is in the audit log yet (audit.py).
        self.audited = False
        #: The slot name asked for (--officer), then the one that unlocked.
        self.officer = officer
        self.newest_public = keys.newest(self._publics.values())

    @classmethod
    def of(cls, *private_keys, officer=None):
        """A keyring of keys already unlocked (tests, scripts)."""
        return cls([(None, key.public, key) for key in private_keys], officer=officer)

    @classmethod
    def load(cls, path, passphrase=None, officer=None):
        """Read ``path`` (a ``.key`` file or a folder of them); unlock keys later, on use.

        Without ``passphrase`` the keyring only seals, never opens or signs.
        ``officer`` names the unlock slot to try (else every slot is tried).
        """
        path = Path(path)
        files = sorted(path.glob("*.key")) if path.is_dir() else [path]
        if not files:
            raise UsageError(f"{path} holds no .key file")
        return cls([(f, keyfiles.describe_private(f), None) for f in files], passphrase,
                   officer)

    def unlock_newest(self):
        """Unlock the newest key now, so a wrong passphrase fails here and not at first use."""
        return self.signing_key

    @property
    def officer_name(self):
        """The slot that unlocked this keyring (unlocking its newest key if none is yet)."""
        if not self._unlocked:
            self.unlock_newest()
        return self.officer or keyfiles.keyslots.LEGACY_SLOT

    @property
    def key_ids(self):
        return sorted(self._publics)

    @property
    def signing_key(self):
        """The newest key: it signs replies and officer requests."""
        return self._unlock(self.newest_public.key_id)

    def opener_for(self, key_id, what="this item"):
        """The opener for ciphertext made for ``key_id``; MissingKeyError if we lack it."""
        key_id = bytes(key_id)
        if key_id not in self._publics:
            raise MissingKeyError(
                f"{what} was encrypted to key {key_id.hex()} of unit {self.unit}, "
                "which is not in your keyring (--key)")
        opener = self._openers.get(key_id)
        if opener is None:
            opener = self._openers[key_id] = self._unlock(key_id).opener
        return opener

    def opener_of(self, data, what="this item"):
        """The opener for the envelope ``data``, made for the key its header names.

        An opener made before is found by the header's key id bytes alone
        (an import asks once per tip): the header itself is checked by
        envelope.open_, which reads it again before it opens anything, with
        the same errors. Any other goes the way of :meth:`opener_for`.
        """
        opener = self._openers.get(bytes(data[2:envelope.HEADER_LEN]))
        if opener is None:
            _, key_id = envelope.parse_header(data)
            opener = self.opener_for(key_id, what)
        return opener

    def private_for(self, key_id, what="this item"):
        """The private key ``key_id`` (unlocking it); MissingKeyError if we lack it."""
        self.opener_for(key_id, what)
        return self._unlock(bytes(key_id))

    def _unlock(self, key_id):
        if key_id not in self._unlocked:
            if self._passphrase is None:
                raise UsageError("the keys are locked: no passphrase was given")
            path = self._paths[key_id]
            try:
                unlocked = keyfiles.open_slot(path, self._passphrase, self.officer)
            except WrongPassphraseError:
                # One passphrase for the whole keyring: say which file refused it.
                raise WrongPassphraseError(str(path)) from None
            # Every later key of this session opens with the same officer's slot.
            self.officer = unlocked.slot
            self._unlocked[key_id] = unlocked.private
        return self._unlocked[key_id]
