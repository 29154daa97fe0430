"""The officers' workstation: the only code that loads a unit's private key."""
