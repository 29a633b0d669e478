"""Files written whole or not at all, and disk errors said in one line.

:func:`write_atomic` writes bytes, :func:`atomic_path` whatever a writer streams, to a temporary
file beside the target (``<name>.tmp-<pid>``), flushes it to disk and renames it over the target
(``os.replace`` is atomic): a full disk, a permission problem or a kill while writing leaves the
previous file whole. When the operating system refuses the write, the temporary file is removed
and a :class:`DiskError` says which file, why (``no space left on device`` with the space free
there and the size of the write), that the previous file is kept and what to do. Torch payloads
are serialised in memory first (``torch.save`` into a buffer), so that a failed write surfaces
as an ``OSError`` with its errno, not as torch's message about stream positions; a Rust writer's
error (safetensors) is recognised by the OS error it names.

:func:`os_error_of` finds the operating-system error behind a library's exception (a Rust
writer's ``... (os error 28)``); :func:`describe_os_error` says any ``OSError`` in one line.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from textdistill.errors import TextdistillError


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


CHUNK = 1 << 20
RESUME = "run the same command again with --resume to continue from the last checkpoint"
AGAIN = "run the same command again"
_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")
_FULL = (errno.ENOSPC, errno.EDQUOT)
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO}
_WHAT_TO_DO = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space (or raise the quota)",
    errno.EACCES: "make the folder writable, or write elsewhere",
    errno.EPERM: "make the folder writable, or write elsewhere",
    errno.EROFS: "write to a writable file system",
}


class DiskError(TextdistillError):
    """A file or folder could not be written. ``path`` is the target, ``errno`` the OS error."""

    def __init__(self, message: str, path: Path, code: int | None) -> None:
        super().__init__(message)
        self.path = path
        self.errno = code


def human_size(size: int) -> str:
    """``size`` bytes for people: ``512 B``, ``86.1 KB``, ``1.2 GB`` (powers of 1024)."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def free_space(path: Path) -> int | None:
    """Bytes free on the file system that holds ``path`` (or its nearest existing folder)."""
    folder = Path(path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def reason_of(err: OSError) -> str:
    """An OS error's reason in lower case (``no space left on device``), without the path."""
    if err.errno == errno.EDQUOT:
        return "no space left on device (disk quota exceeded)"
    if err.errno in _FULL:
        return "no space left on device"
    text = err.strerror or str(err) or type(err).__name__
    return text[:1].lower() + text[1:]


def describe_os_error(err: OSError) -> str:
    """One line for any ``OSError``: the path(s) it names, then its reason."""
    if err.errno is None:
        return str(err) or type(err).__name__
    paths = [str(p) for p in (err.filename, err.filename2) if p is not None]
    return (" -> ".join(paths) + ": " if paths else "") + reason_of(err)


def os_error_of(exc: BaseException) -> OSError | None:
    """The operating-system error behind ``exc``: itself, its cause or context (as a traceback
    would show them), or one that a Rust writer names in its message (safetensors: ``I/O error:
    No space left on device (os error 28)``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            return current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    found = _RUST_OS_ERROR.search(str(exc))
    if found:
        code = int(found.group(1))
        return OSError(code, os.strerror(code))
    return None


def disk_error(
    exc: BaseException,
    path: Path,
    size: int | None = None,
    then: str = AGAIN,
    folder: bool = False,
    previous: bool | None = None,
) -> DiskError | None:
    """The :class:`DiskError` for ``exc``, raised while writing ``path`` (a file, or a ``folder``;
    ``size`` bytes, when known), if the operating system refused the write: why, the space free
    there, whether the previous ``path`` is kept, and what to do (``then``, after fixing the
    cause). ``None`` for any other error, and for one of ours (it says what it means already)."""
    err = None if isinstance(exc, TextdistillError) else os_error_of(exc)
    if (
        err is None or err.errno not in WRITE_ERRNOS
    ):  # a read that failed inside the block is not a refused write
        return None
    reason = reason_of(err)
    if err.errno in _FULL:
        free = free_space(path)
        sizes = [f"{human_size(size)} to write" if size is not None else None,
                 f"{human_size(free)} free there" if free is not None else None]  # fmt: skip
        shown = ", ".join(s for s in sizes if s)
        reason += f" ({shown})" if shown else ""
    name = path.name + ("/" if folder else "")
    kept = path.exists() if previous is None else previous
    previous_ = f"the previous {name} is kept" if kept else f"no {name} is left half-written"
    advice = _WHAT_TO_DO.get(err.errno or -1)
    return DiskError(
        f"cannot write {path}: {reason}; {previous_}: {advice + ', then ' if advice else ''}{then}",
        path,
        err.errno,
    )


@contextlib.contextmanager
def atomic_path(path: str | Path, size: int | None = None, then: str = AGAIN) -> Iterator[Path]:
    """A temporary path beside ``path`` for the block to write (``<name>.tmp-<pid>``), flushed to
    disk and renamed over ``path`` when the block ends: ``path`` is the whole new file or the
    previous one. For a writer that streams (safetensors' ``save_file``, a JSONL file); ``size``:
    how many bytes it writes, when known, for the message.

    Raises:
        DiskError: the operating system refused the write (also inside a library's error);
            the temporary file is removed and a previous ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:  # a kill or Ctrl-C too: never leave the temporary file
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        refused = disk_error(err, path, size, then)
        if refused is not None:
            raise refused from err
        raise


def _write_all(f: BinaryIO, data: memoryview) -> None:
    """Every byte of ``data`` to the unbuffered file ``f`` (a write may take fewer than offered)."""
    while data:
        written = f.write(data[:CHUNK])
        data = data[written:]


def write_atomic(path: str | Path, data: bytes | bytearray | memoryview, then: str = AGAIN) -> None:
    """Write ``data`` to ``path`` whole or not at all (:func:`atomic_path`)."""
    view = memoryview(data).cast("B")
    with atomic_path(path, len(view), then) as tmp, open(tmp, "wb", buffering=0) as f:
        _write_all(f, view)
