"""The `gaunet` command. Each subcommand lives in its own module of this package.

A module here that defines `register(subparsers)` (and an integer `ORDER` for --help) becomes a
subcommand; `register` adds its parser and sets `func` to a function taking the parsed args and
returning an exit code. Heavy imports (torch, models) happen inside those functions so that
`gaunet --help` stays fast.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys
import warnings
from pathlib import Path

from gaunet.errors import GaunetError, GaunetWarning, os_error

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../gaunet
# Warnings of libraries that a user of the command cannot act on (message regex, category).
QUIET_WARNINGS = (
    # torch's weights_only loader on a checkpoint pickled with another protocol: it loads fine
    (r"Detected pickle protocol", UserWarning),
    # torch.from_numpy on a read-only (memory-mapped, np.load) array: we never write to it
    (r"The given NumPy array is not writable", UserWarning),
    (r"TypedStorage is deprecated", UserWarning),
)
# errno values that are the environment's, not a bug: printed as one line without traceback
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG,
    errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOENT, errno.EIO,
}  # fmt: skip


def comma_list(text: str) -> list[str]:
    """Every list-valued option is read this way: "a, b,,c" gives ["a", "b", "c"]."""
    return [item.strip() for item in text.split(",") if item.strip()]


def user_path(text: str) -> str:
    """The argparse `type` of every path option: `~` and `~user` expanded, as the shell would
    (it does not in `--out=~/x` or a quoted "~/my runs"), so no folder named `~` is made."""
    return os.path.expanduser(text)


def user_path_obj(text: str) -> Path:
    """user_path as a Path, for options read as paths."""
    return Path(user_path(text))


def size_help(default: str = "%(default)s", run: str = "") -> str:
    """The --help of every --size option, so that one rule reads the same in every command: S is
    the side every image is resized to; a command given a run (its option named by `run`)
    follows that run's size; otherwise the command's own default (argparse's, unless named)."""
    follows = f"the run's size with {run}, else {default}" if run else default
    return f"image side S in pixels; every image is resized to S x S (default: {follows})"


def add_device_argument(parser: argparse.ArgumentParser, what: str, note: str = "") -> None:
    """The --device option of the commands that run networks (benchmark, evaluate, demo,
    compare): one rule, `auto` = CUDA when available, else the CPU
    (gaunet.device.resolve_device)."""
    parser.add_argument(
        "--device",
        default="auto",
        help=f"where {what} run: auto (CUDA when available, else the CPU), cpu, cuda, cuda:1, "
        f"... (default: auto){note}",
    )


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """--threads of the commands whose default is torch's choice (evaluate, generate): capped
    at the CPUs this process may use, since torch's default ignores a container's CPU limit
    (64 threads under `docker run --cpus 2` on a 64-core host)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (default 0: torch's choice, at most the CPUs this process may "
        "use; 1 is fastest on a busy machine, docs/guide.md)",
    )


def use_thread_option(threads: int, device_type: str, what: str) -> None:
    """Apply --threads (refusing a negative count), with the busy-cores warning where the
    networks run on the CPU (`device_type`: resolve_device(...).type)."""
    from gaunet.cpu_load import use_threads
    from gaunet.errors import GaunetError

    if threads < 0:
        raise GaunetError(f"--threads must be at least 0 (0: torch's choice), not {threads}")
    use_threads(threads, device_type, what, "--threads 1")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gaunet",
        description=(
            "Turn a small labelled medical-image dataset into more labelled images with a "
            "generative adversarial U-Net, and measure whether they help."
        ),
    )
    from gaunet import __version__

    parser.add_argument("--version", action="version", version=f"gaunet {__version__}")
    from gaunet.cli._help import GaunetParser  # every subcommand's --help shows its defaults

    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=GaunetParser
    )
    modules = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        module.register(subparsers)
    return parser


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning for the command: gaunet's own warnings as one line
    `warning: MESSAGE` (no category, file or source line); others in Python's format."""
    stream = file if file is not None else sys.stderr
    if stream is None:
        return
    ours = issubclass(category, GaunetWarning) or os.path.abspath(str(filename)).startswith(
        _PACKAGE + os.sep
    )
    if ours:
        text = " ".join(str(message).split())
        stream.write(f"warning: {text}\n")
    else:
        stream.write(warnings.formatwarning(message, category, filename, lineno, line))
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from gaunet.locking import set_command_line

    set_command_line(["gaunet", *(sys.argv[1:] if argv is None else argv)])  # lock records
    from gaunet.interrupts import sigterm_as_interrupt

    # both restored on return: main() may be called in-process
    with warnings.catch_warnings(), sigterm_as_interrupt():
        warnings.showwarning = show_warning
        for message, category in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=category)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from gaunet.progress import silenced

    try:
        # `--quiet` (on every command that draws a bar): no bar at all, whoever draws it
        with silenced() if getattr(args, "quiet", False) else nullcontext():
            return int(args.func(args) or 0)
    except GaunetError as error:
        print(f"gaunet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (gaunet/interrupts.py)
        from gaunet.interrupts import exit_code, stopped_by

        if os.environ.get("RANK", "0") == "0":  # torchrun: one line, not one per process
            print(f"gaunet {args.command}: {stopped_by(stop)}", file=sys.stderr)
        return exit_code(stop)
    except (MemoryError, RuntimeError) as error:  # numpy's, torch's CPU and CUDA ones
        if not _out_of_memory(error):
            raise
        jobs = ", or fewer --jobs" if (getattr(args, "jobs", None) or 1) > 1 else ""
        print(
            f"gaunet {args.command}: error: out of memory ({_first_line(error)}); a "
            f"smaller image size (--size), batch or image count needs less{jobs}",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:  # `gaunet ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:  # a file system problem we did not foresee: still one line
        if error.errno not in _ENVIRONMENT_ERRNOS:
            raise
        print(f"gaunet {args.command}: error: {os_error(error)}", file=sys.stderr)
        return 2


def _first_line(error: BaseException) -> str:
    """The error's first line, or its type's name (a bare `MemoryError()` has no text)."""
    return (str(error).splitlines() or [type(error).__name__])[0]


def _out_of_memory(error: BaseException) -> bool:
    """An allocation that failed (`--size 100000` asked numpy for 21 TiB): one line, not a
    traceback. torch's CPU allocator raises a plain RuntimeError, told by its text."""
    torch = sys.modules.get("torch")
    if isinstance(error, MemoryError):
        return True
    if torch is not None and isinstance(error, torch.OutOfMemoryError):
        return True
    return "DefaultCPUAllocator: can't allocate memory" in str(error)


if __name__ == "__main__":
    sys.exit(main())
