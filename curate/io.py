"""One I/O layer: atomic writes, and Parquet / safetensors reads under one error contract.

Writes go to a temporary sibling `.NAME.tmp-PID`, are flushed to disk and renamed over the target, so a crash
leaves the old file or the new one, never half of one; a failed write removes its temporary file.
Reads turn every way a user-given file can be wrong (missing, a folder, empty, truncated, not that format)
into one `InputError` that names the file and the fix, instead of a pyarrow or safetensors traceback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from curate.errors import ConfigError, InputError

__all__ = [
    "temp_path",
    "atomic_open",
    "atomic_folder",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_parquet",
    "read_table",
    "require_columns",
    "read_safetensors",
    "read_json",
    "remove_stale_temps",
    "check_output",
    "default_file_mode",
    "give_default_mode",
]


def temp_path(path: str | os.PathLike) -> Path:
    """`.NAME.tmp-PID` beside `path`; off the main thread `-THREAD` is appended so threads never share one."""
    path = Path(path)
    suffix = f"{os.getpid()}"
    if threading.current_thread() is not threading.main_thread():
        suffix += f"-{threading.get_ident()}"
    return path.with_name(f".{path.name}.tmp-{suffix}")


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary file handle whose bytes become `path` (flushed, fsynced, renamed) only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_folder(path: str | os.PathLike, keep_existing: bool = False) -> Iterator[Path]:
    """An empty temporary folder beside `path` that becomes `path` when the block succeeds (removed if it fails).

    An existing `path` is swapped out and deleted; with `keep_existing` a finished `path` stays and the new copy
    is dropped (a cache that another process may have completed first, and may be reading).
    """
    path = Path(path)
    tmp = temp_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if keep_existing:
            _rename_unless_taken(tmp, path)
        else:
            _swap_in(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _rename_unless_taken(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError:
        if not path.exists():  # a real failure, not a copy that another process finished first
            raise


def _swap_in(tmp: Path, path: Path) -> None:
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    _remove(old)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    _remove(old)


def _remove(path: Path) -> None:
    """Delete a file or a folder tree, if there is one."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask, read from /proc where Linux reports it (os.umask can only read it by setting it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode an ordinary `open(path, "w")` gives a new file: 0o666 minus the umask (0o644 under umask 022)."""
    return 0o666 & ~_umask()


def give_default_mode(path: str | os.PathLike) -> None:
    """chmod `path` (a file, or each file directly in a folder) to `default_file_mode()`.

    For files a library wrote itself: safetensors' `save_file` (and so transformers' `save_pretrained`) writes
    through a private temporary file and leaves model.safetensors at 0600 beside 0644 config files.
    """
    path = Path(path)
    mode = default_file_mode()
    for file in (path.iterdir() if path.is_dir() else [path]):
        if file.is_file() and not file.is_symlink() and file.stat().st_mode & 0o777 != mode:
            file.chmod(mode)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` so that a crash never leaves a half-written file."""
    with atomic_open(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_parquet(table: Any, path: str | os.PathLike, **pyarrow_options: Any) -> None:
    """Write a pyarrow.Table (or a polars DataFrame, via `to_arrow()`) to `path` atomically.

    `pyarrow_options` go to `pyarrow.parquet.write_table` (compression, use_dictionary, ...).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table) and hasattr(table, "to_arrow"):
        table = table.to_arrow()
    with atomic_open(path) as fh:
        pq.write_table(table, fh, **pyarrow_options)


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{path} does not exist; give {what} (check the path)")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give {what} (a file, not a folder)")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes); give {what}, or rerun the command that wrote it")


def _unreadable(path: Path, kind: str, what: str, err: Exception) -> InputError:
    reason = " ".join(str(err).split()) or type(err).__name__
    return InputError(f"{path}: not a readable {kind} file ({reason}); it is truncated, corrupt or another format "
                      f"- give {what}, or rerun the command that wrote it")


def read_table(path: str | os.PathLike, columns: Iterable[str] | None = None,
               what: str = "a Parquet file") -> Any:
    """One Parquet file as a pyarrow.Table (only `columns` when given); bad files raise InputError.

    `what` completes the fix in the message, e.g. "the Parquet written by `curate sot-weight`".
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    _require_file(path, what)
    try:
        with pq.ParquetFile(path) as file:
            if columns is not None:
                columns = list(columns)
                require_columns(file.schema_arrow, columns, path)
            return file.read(columns=columns)
    except (pa.ArrowException, OSError) as err:
        raise _unreadable(path, "Parquet", what, err) from err


def _column_names(table: Any) -> list[str]:
    """Column names of a pyarrow Table or Schema, or a polars DataFrame."""
    for attribute in ("column_names", "names", "columns"):
        names = getattr(table, attribute, None)
        if names is not None:
            return list(names)
    raise TypeError(f"require_columns: {type(table).__name__} has no column names")


def require_columns(table: Any, columns: Iterable[str] | Mapping[str, str], source: str | os.PathLike) -> None:
    """Raise an InputError listing every missing column (and the option that names it) and the columns present.

    `columns` is a list of names, or a mapping column -> the option that set it (`{"prompt": "--prompt-field"}`).
    """
    present = _column_names(table)
    options = columns if isinstance(columns, Mapping) else {}
    missing = [c for c in columns if c not in present]
    if not missing:
        return
    listed = ", ".join(f"'{c}'" + (f" (set by {options[c]})" if c in options else "") for c in missing)
    fix = "point the option at one of them" if options else "give a table with these columns"
    raise InputError(f"input '{source}' has no column{'s' if len(missing) > 1 else ''} {listed}; "
                     f"its columns are: {', '.join(present) or '(none)'}; {fix}")


def read_safetensors(path: str | os.PathLike, device: str = "cpu",
                     what: str = "a safetensors file") -> dict[str, Any]:
    """All tensors of a safetensors file as {name: torch.Tensor} on `device`; bad files raise InputError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    _require_file(path, what)
    try:
        return load_file(str(path), device=device)
    except (SafetensorError, OSError) as err:
        raise _unreadable(path, "safetensors", what, err) from err


def read_json(path: str | os.PathLike, what: str = "a JSON file") -> Any:
    """A JSON file's value; a missing, empty or malformed file raises InputError."""
    path = Path(path)
    _require_file(path, what)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _unreadable(path, "JSON", what, err) from err


# `.NAME.tmp-PID`, `.NAME.tmp-PID-THREAD` (temp_path) and `.NAME.old-PID` (an output being swapped out).
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>[0-9]+)(?:-[0-9]+)?$")


def _is_stale(path: Path, pid: int) -> bool:
    """A temporary is stale when its process is gone, or when it predates the live process holding that PID now
    (the PID was reused, e.g. by this very run): only a process's own run can still be writing it."""
    import psutil

    try:
        started = psutil.Process(pid).create_time()
        written = path.lstat().st_mtime
    except psutil.NoSuchProcess:
        return True
    except (psutil.Error, OSError):  # cannot tell (or already gone): leave it
        return False
    return written < started - 1.0  # 1 s of slack for the coarse process clock


def _stale_temps_inside(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            match = _TEMP_NAME.match(name)
            if match and _is_stale(Path(root, name), int(match["pid"])):
                yield Path(root, name)
        dirs[:] = [d for d in dirs if not _TEMP_NAME.match(d)]  # a temp folder is removed whole, not walked


def _stale_temps_beside(path: Path) -> Iterator[Path]:
    """Temporaries named after `path` or its sidecars (OUT.parquet -> .OUT.parquet.tmp-1, .OUT.json.tmp-1)."""
    if not path.parent.is_dir():
        return
    for entry in path.parent.iterdir():
        match = _TEMP_NAME.match(entry.name)
        if not match:
            continue
        name = match["name"]
        if (name == path.name or name.startswith(path.stem + ".")) and _is_stale(entry, int(match["pid"])):
            yield entry


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete what killed or failed runs left of output `path`: temporaries (`.NAME.tmp-PID`, `.NAME.old-PID`,
    files or folders) anywhere inside it when it is a folder, and those beside it named after it or its sidecars.

    Only stale ones go: their process has exited, or the file predates the process now holding that PID; a run
    still writing keeps its temporaries. Returns the paths removed.
    """
    path = Path(path)
    stale = list(_stale_temps_beside(path))
    if path.is_dir() and not path.is_symlink():
        stale += list(_stale_temps_inside(path))
    for temp in stale:
        _remove(temp)
    return stale


def _existing_ancestor(path: Path) -> Path:
    """The nearest of `path`'s parents that exists (the current folder for a bare relative name)."""
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path(path.absolute().anchor)


def _check_kind(path: Path, kind: str, option: str) -> None:
    if kind == "file" and path.is_dir():
        raise ConfigError(f"{option} {path} is a folder but a file is written there; give a file name, e.g. "
                          f"{option} {path / ('out' + (path.suffix or '.parquet'))}")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file but a folder is written there; give the path of a new or "
                          "existing folder")
    if not path.exists():
        ancestor = _existing_ancestor(path)
        if not ancestor.is_dir():
            raise ConfigError(f"{option} {path}: {ancestor} is a file, not a folder, so nothing can be written "
                              f"under it; choose an {option} outside it")


def _local_inputs(inputs: Iterable[Any]) -> Iterator[tuple[str, Path]]:
    """(as given, resolved path) of each input that is an existing local path (not registry:NAME, not a glob)."""
    for spec in inputs:
        if spec is None:
            continue
        text = str(spec)
        if text.startswith("registry:") or any(c in text for c in "*?["):
            continue
        if Path(text).exists():
            yield text, Path(text).resolve()


def _check_not_input(path: Path, inputs: Iterable[Any], option: str) -> None:
    target = path.resolve()
    for given, source in _local_inputs(inputs):
        if target == source:
            raise ConfigError(f"{option} {path} is the input {given}; write the output to another path")
        if source.is_dir() and target.is_relative_to(source):
            raise ConfigError(f"{option} {path} lies inside the input folder {given}; write the output outside it")


def _check_writable(path: Path, kind: str, option: str) -> None:
    """Create (and delete) a probe file where the output will be written: the only test that root, read-only
    mounts and /proc all answer truthfully."""
    folder = path if kind == "folder" and path.is_dir() else (path.parent if path.parent.is_dir() else None)
    folder = folder or _existing_ancestor(path)
    probe = temp_path(folder / "write-probe")
    try:
        probe.touch()
        probe.unlink()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ConfigError(f"{option} {path}: cannot write in {folder} ({reason}); choose a writable location "
                          f"for {option}") from err


def check_output(path: str | os.PathLike | None, kind: Literal["file", "folder"] = "file",
                 inputs: Iterable[Any] = (), overwrite: bool | None = None, option: str = "--out") -> Path | None:
    """Refuse, before any heavy work, an output location the command could not fill at the end; then sweep it.

    Checks: a file is not meant where a folder is (or the other way round), no parent is a file, it is not one of
    `inputs` nor inside an input folder (inputs that are not existing local paths, e.g. registry:NAME, are
    skipped), and a probe file can be created there. With `overwrite` False an existing output is refused too
    (None leaves what an existing output means to the stage). Then `remove_stale_temps(path)`. Every failure is
    one ConfigError naming `option`, the path and the fix. A `path` of None (an optional output not asked for)
    passes. Returns `path` as a Path.
    """
    if path is None:
        return None
    path = Path(path)
    _check_kind(path, kind, option)
    if overwrite is False and path.exists():
        raise ConfigError(f"{path} exists; pass --overwrite to replace it or choose another {option}")
    _check_not_input(path, inputs, option)
    _check_writable(path, kind, option)
    remove_stale_temps(path)
    return path
