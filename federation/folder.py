"""The files of a release export, opened without following a link: each is a regular file in
the export folder or a folder below it, never what a link points at elsewhere on this host."""

import os
import stat
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from federation.package import PackageError

# O_NOFOLLOW: a link swapped in after the check is refused, not followed. O_NONBLOCK: a FIFO
# swapped in does not hang the import (fstat then refuses it).
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FOLDER = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


class ExportFolder:
    """Opened once; every file is then found by name relative to it (openat), one plain name
    at a time, so nothing can lead outside it: no `..`, no absolute path, no link."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # The folder itself is the operator's to name, through links if they like.
        self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def __enter__(self) -> "ExportFolder":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        os.close(self._fd)

    def read(self, relative: str, *, limit: int) -> bytes:
        """A small file in full; PackageError when it holds more than `limit` bytes."""
        with self.open(relative) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise PackageError(f"{relative} is larger than {limit} bytes")
        return data

    def open(self, relative: str) -> BinaryIO:
        """`relative` (like `bundles/<sha256>`), if it and each folder on its way is what it
        says (a regular file, a folder) and not a link."""
        *folders, name = relative.split("/")
        opened: list[int] = []
        try:
            at = self._fd
            for index, folder in enumerate(folders):
                shown = "/".join(folders[: index + 1])
                _expect(at, folder, shown, stat.S_ISDIR, "a folder")
                at = os.open(folder, _FOLDER, dir_fd=at)
                opened.append(at)
            _expect(at, name, relative, stat.S_ISREG, "a regular file")
            fd = os.open(name, _FILE, dir_fd=at)
        finally:
            for folder_fd in opened:
                os.close(folder_fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped between the check and the open
            os.close(fd)
            raise PackageError(f"{relative} is not a regular file")
        return os.fdopen(fd, "rb")


def _expect(at: int, name: str, shown: str, kind: Callable[[int], bool], described: str) -> None:
    """Refuse, saying why, a name that is not one plain name of a file of this kind."""
    if name in ("", ".", "..") or "\x00" in name:
        raise PackageError(f"{shown!r} is not a plain name in the export folder")
    try:
        found = os.stat(name, dir_fd=at, follow_symlinks=False)
    except FileNotFoundError:
        raise PackageError(f"{shown} is missing") from None
    if stat.S_ISLNK(found.st_mode):
        raise PackageError(f"{shown} is a symbolic link; the export holds files, not links")
    if not kind(found.st_mode):
        raise PackageError(f"{shown} is not {described}")
