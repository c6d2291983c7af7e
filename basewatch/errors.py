"""The basewatch exception tree: one base class, subclasses that also inherit builtins.

Every message names the input, the offending value and the fix. The CLI prints
``str(error)`` on one line and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations


class BasewatchError(Exception):
    """Base class of every error basewatch raises on purpose."""


class RegistryError(BasewatchError, ValueError):
    """A site registry file is malformed or inconsistent."""


class SiteNotFoundError(BasewatchError, KeyError):
    """A site or zone id does not exist in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CatalogError(BasewatchError, OSError):
    """A STAC catalogue or imagery source cannot be opened or searched."""


class ImageryError(BasewatchError, ValueError):
    """An image or chip cannot be read or has unusable content."""


class StoreError(BasewatchError, RuntimeError):
    """The database cannot be opened, migrated or written."""


class InputError(BasewatchError, ValueError):
    """A user-supplied argument or file is invalid."""
