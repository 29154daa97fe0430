"""``tipdrop keygen`` and ``tipdrop keys show``: making and inspecting a unit's key files.

They run on the workstation, where a unit's private key is made and kept;
only the ``.pub`` half is copied to the server (docs/operations.md).
Registered on the top-level ``tipdrop`` group by tipdrop.cli.register_commands.
"""

import click

from tipdrop.common.passphrase import read_passphrase
from tipdrop.crypto.keys import check_unit_name, format_fingerprint
from tipdrop.officer.keyfiles import create_unit_key, describe


@click.command()
@click.option("--unit", required=True, help="Unit name: lowercase letters, digits, '-'.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for UNIT.key (stays on the workstation) and UNIT.pub.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False),
              help="Read the passphrase from this file instead of a prompt.")
@click.option("--rotate", is_flag=True,
              help="Add a new key for a unit that has one: writes UNIT-<key id>.key/.pub.")
def keygen(unit, out_dir, passphrase_file, rotate):
    """Make a unit's key pair (X25519 + Ed25519).

    The private key is written encrypted under a passphrase (Argon2id) to
    OUT/UNIT.key and must never leave the workstation; copy OUT/UNIT.pub to
    the server's keys/ folder and check its fingerprint out of band. With
    --rotate, the unit's next key goes to OUT/UNIT-<key id>.key/.pub; new
    tips use it once its .pub is in keys/ and the server restarted.

    Example: TIPDROP_PASSPHRASE=... tipdrop keygen --unit almaty-city --out ~/tipdrop-keys --rotate
    """

    check_unit_name(unit)
    passphrase = read_passphrase(passphrase_file, confirm=True)
    created = create_unit_key(unit, out_dir, passphrase, rotate=rotate)
    click.echo(f"unit:        {created.public.unit}")
    click.echo(f"key id:      {created.public.key_id.hex()}")
    click.echo(f"fingerprint: {format_fingerprint(created.public.fingerprint)}")
    click.echo(f"private key: {created.private_path}  (keep on the workstation, never on the server)")
    click.echo(f"public key:  {created.public_path}  (copy to the server's keys/ folder)")


@click.group()
def keys():
    """Inspect key files."""


@keys.command("show")
@click.argument("file", type=click.Path(dir_okay=False))
def keys_show(file):
    """Print the unit, key id and fingerprint of a .pub or .key file.

    Compare the fingerprint with the one printed at key generation, read
    aloud or on paper, before trusting a public key.

    Example: tipdrop keys show keys/demo.pub
    """

    kind, public = describe(file)
    click.echo(f"file:        {file} ({kind} key)")
    click.echo(f"unit:        {public.unit}")
    click.echo(f"created:     {public.created}")
    click.echo(f"key id:      {public.key_id.hex()}")
    click.echo(f"fingerprint: {format_fingerprint(public.fingerprint)}")


#: Added to the top-level group by tipdrop.cli.register_commands.
KEY_COMMANDS = (keygen, keys)
