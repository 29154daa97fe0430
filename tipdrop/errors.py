"""One exception tree for tipdrop.

Every class's docstring is the sentence a user sees: the CLI prints
``error: <message>`` and exits with code 2, the web app renders it as a page
in the reporter's language (the web layer maps classes to translated text).
Raise with a ``detail`` to say which file, field or tip is concerned; never
put secrets, plaintext or receipts into a detail.
"""


#: The exit code of a command that ends in a TipdropError (or finds problems: doctor).
EXIT_CODE = 2


class TipdropError(Exception):
    """Something went wrong."""

    #: HTTP status the web layer answers with when this error escapes a view.
    http_status = 400
    #: Generic classes whose detail is the whole message ("file X: no such file").
    detail_is_message = False

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        summary = (self.__doc__ or "").strip().splitlines()[0]
        if self.detail and self.detail_is_message:
            return self.detail
        if self.detail:
            return f"{summary.rstrip('.')}: {self.detail}"
        return summary


# --- bad input from a person --------------------------------------------


class InputError(TipdropError):
    """The input is not valid."""

    detail_is_message = True


class ReceiptError(InputError):
    """That is not a valid receipt code."""

    detail_is_message = False


class ReceiptLengthError(ReceiptError):
    """The receipt code has the wrong number of characters."""


class ReceiptCharacterError(ReceiptError):
    """The receipt code contains a character that is never used in receipts."""


class ReceiptTypoError(ReceiptError):
    """The receipt code looks mistyped: please check each character."""


class ReceiptNotRecognisedError(ReceiptError):
    """No report matches this receipt code. Check it and try again."""

    http_status = 404


class TextEncodingError(InputError):
    """The text could not be read (it is not valid UTF-8). Please type it again."""

    detail_is_message = False


class UsageError(InputError):
    """The command was not used correctly."""


class FormAlreadySentError(InputError):
    """This form was already sent, so it was not sent again."""

    http_status = 409
    detail_is_message = False
    #: The web layer shows these on their own page, not as an error.
    page = "already_sent.html"


class ReportAlreadySentError(FormAlreadySentError):
    """This report was already sent and has arrived; it was not sent a second time. Its receipt code was shown only once, right after the first sending: if you did not see it, please make the report again."""


class FollowupAlreadySentError(FormAlreadySentError):
    """This message was already sent and added to your report; it was not added a second time."""


class CheckFormUsedError(FormAlreadySentError):
    """This form was already used. To see your report again, open the check page and enter your receipt code."""


class FollowupLimitError(InputError):
    """This report has received as many messages today as it can take in one day. Please send the rest tomorrow."""

    http_status = 429
    detail_is_message = False


# --- keys and cryptography ------------------------------------------------


class CryptoError(TipdropError):
    """A cryptographic check failed."""


class FormatError(CryptoError):
    """The data is not in a format tipdrop understands."""


class DecryptionError(CryptoError):
    """The data is damaged or was tampered with and cannot be opened."""


class PaddingError(DecryptionError):
    """The decrypted data has invalid padding: it is damaged or was tampered with."""


class TruncatedError(DecryptionError):
    """The encrypted data ends too early: it was cut short."""


class SignatureError(CryptoError):
    """The signature does not match: the data was forged or changed."""


class KeyFileError(CryptoError):
    """The key file is damaged or is not a tipdrop key file."""


class WrongPassphraseError(CryptoError):
    """Cannot unlock the private key: wrong passphrase, or the key file was changed."""


class WrongKeyError(CryptoError):
    """This was encrypted to a different key."""


class MissingKeyError(WrongKeyError):
    """That key is not in your keyring (--key)."""

    detail_is_message = True


class KeyOrderError(KeyFileError):
    """Cannot tell which key is newest: two keys of one unit were created at once; retire one."""


# --- deployment -----------------------------------------------------------


class ConfigError(TipdropError):
    """The configuration is not valid."""

    http_status = 500


class PrivateKeyInKeysDirError(ConfigError):
    """Refusing to start: a private key was found in the server's keys folder."""


class UnknownUnitError(ConfigError):
    """No public key is installed for that unit."""
