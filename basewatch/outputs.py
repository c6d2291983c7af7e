"""Where commands write: never over one of their own inputs."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from basewatch.errors import InputError


def refuse_overwriting(
    targets: Iterable[Path], inputs: Iterable[str | Path | None], *, option: str = "--out"
) -> None:
    """Raise :class:`InputError` when a file about to be written is one of ``inputs`` or lies
    inside an input folder (e.g. a Sentinel-2 band folder), before anything is written.

    ``inputs`` may hold None and bundled names (strings that are not existing paths), which
    are skipped.
    """
    given = [Path(p) for p in inputs if p is not None and Path(p).exists()]
    files = {p.resolve(): p for p in given if not p.is_dir()}
    folders = {p.resolve(): p for p in given if p.is_dir()}
    for target in targets:
        where = target.resolve()
        if where in files:
            raise InputError(
                f"{option} {target} is the input {files[where]}: writing there would replace "
                "it; choose another output file"
            )
        inside = next((f for r, f in folders.items() if where.is_relative_to(r)), None)
        if inside is not None:
            raise InputError(
                f"{option} {target} lies inside the input folder {inside}: writing there would "
                "replace or add to its files; choose an output outside it"
            )


def cannot_write(path: Path, exc: OSError) -> InputError:
    """The error for a file that cannot be written, naming the cause a user can act on (a
    part of the path that is a file, not a folder; a folder without write permission)."""
    blocking = next((p for p in path.parents if os.path.isfile(p)), None)  # never raises
    if blocking is not None:
        return InputError(
            f"{path}: cannot write it: {blocking} is a file, not a folder; choose another path"
        )
    return InputError(f"{path}: cannot write it ({exc.strerror or exc}); choose a writable path")
