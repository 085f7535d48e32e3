"""``python -m recranker_core <command>``: argument parsing only; the work is in runner and data."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import logging
import os
import signal
import sys
import warnings
from pathlib import Path

from recranker_core import launch, rundir, terminal
from recranker_core.errors import InputError
from recranker_core.stages import LATER, LAUNCHABLE, REGISTRY

log = logging.getLogger("recranker")
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
"""OSErrors of a machine's storage, not of the code: a full disk, a quota, a read-only or forbidden folder."""


class _Parser(argparse.ArgumentParser):
    """argparse, its errors in two lines (what is wrong, where the help is) instead of the whole usage."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message}\nsee: {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m recranker_core",
        description="RecRanker Studio: an LLM as ranker for top-k recommendation.",
    )
    common = _Parser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def dataset_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--dataset",
            default="ml-100k",
            help="'ml-100k' (embedded), a MovieLens folder or zip, or a ratings .csv/.tsv (default: ml-100k)",
        )
        p.add_argument("--items", help="items CSV (item, title[, genres]) for a ratings CSV")
        p.add_argument(
            "--profile", default="quick", help="smoke, quick, paper or a TOML file (default: quick)"
        )

    p = commands.add_parser(
        "data", parents=[common], help="load a dataset and print its summary and split sizes"
    )
    dataset_args(p)

    for name, text in (
        ("baselines", "create a run: split, fit the conventional recommenders, evaluate their top-10"),
        ("run", "run every stage into a new run directory"),
    ):
        p = commands.add_parser(name, parents=[common], help=text)
        dataset_args(p)
        p.add_argument("--out", required=True, type=Path, help="run directory to create, e.g. runs/NAME")
        p.add_argument("--overwrite", action="store_true", help="replace a different run already in --out")
        p.add_argument(
            "--model",
            help="'embedded' (SmolLM2-135M-Instruct), 'gemma3-270m' (Gemma 3 270M), 'tiny', or a local "
            "Hugging Face model folder",
        )
        p.add_argument(
            "--scenario",
            choices=["direct", "sequential"],
            default="direct",
            help=(
                "direct (default: the profile's base models) or sequential "
                "(SASRec candidates and hints, history in time order)"
            ),
        )
        if name == "run":
            p.add_argument(
                "--seeds",
                type=int,
                metavar="N",
                help=(
                    "run the seed-dependent LLM stages N times (seeds seed .. seed + N - 1); "
                    "metrics report their spread"
                ),
            )
            p.add_argument("--until", choices=LATER, help="stop after this stage")
            p.add_argument(
                "--force",
                choices=LATER,
                help="re-run this stage even if it is up to date (later ones re-run if its output changes)",
            )

    for name in (*LATER, "evaluate"):
        p = commands.add_parser(name, parents=[common], help=REGISTRY[name].help)
        p.add_argument("--run", required=True, type=Path, help="the run directory")
        if name == "instructions":
            p.add_argument("--show", metavar="USER", help="print this user's prompts (builds them if needed)")
    p = commands.add_parser("report", parents=[common], help="write a self-contained HTML report of a run")
    p.add_argument("--run", required=True, type=Path, help="the run directory")
    p.add_argument("--compare", nargs="+", type=Path, default=[], metavar="RUN", help="runs to compare with")
    p.add_argument("--out", required=True, type=Path, help="the .html file to write")
    p = commands.add_parser(
        "serve", parents=[common], help="serve the dashboard on http://127.0.0.1:PORT (this machine only)"
    )
    p.add_argument("--port", type=int, default=8501, help="the port (default: 8501)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    # Under accelerate launch the other processes stay quiet.
    log.setLevel(logging.WARNING if args.quiet or launch.rank() else logging.INFO)
    if args.quiet:
        os.environ["TQDM_DISABLE"] = "1"  # every progress bar: ours, the Trainer's, transformers' loading
    log.propagate = False
    # Outside the try, so that a second signal while the first is reported is ignored, not a traceback.
    with terminal.stoppable():
        try:
            if launch.world_size() > 1 and args.command not in LAUNCHABLE:
                raise InputError(
                    f"'{args.command}' runs in one process; launch only {' and '.join(LAUNCHABLE)} in several"
                )
            return COMMANDS[args.command](args)
        except InputError as exc:
            _say(f"error: {exc}")
            return 2
        except OSError as exc:
            if not exc.filename and exc.errno not in WRITE_ERRORS:
                raise  # no path's: a fault of the code or the machine, whose traceback is the report
            _say(f"error: {_path_error(exc)}")
            return 2
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", signal.SIGINT)
            _say(_interrupted(args, exc, signum))
            return 128 + signum
        finally:
            log.removeHandler(handler)
            log.propagate = True


def _say(line: str) -> None:
    print(terminal.plain(line), file=sys.stderr)


def _show(text: str, *, lines: bool = False) -> None:
    """Print a result; titles, ids and paths in it come from the data and the command line."""
    print(terminal.plain(text, lines=lines))


def _path_error(exc: OSError) -> str:
    """What could not be opened, made or written, and why. Every file is written under a hidden temporary
    name and renamed into place (rundir.write_text, staged_folder), and the lock and progress files are
    hidden beside the run: for those the user needs the folder, not the name. Only the storage's errors
    add that earlier results are kept: a path that cannot be read or made stopped before any writing."""
    path = Path(exc.filename) if exc.filename else None
    reason = _reason(exc, path)
    kept = "; earlier results are kept" if exc.errno in WRITE_ERRORS else ""
    if path is None:
        return f"a run file: {reason}{kept}"
    if path.name.startswith(".") and any(mark in path.name for mark in _HIDDEN_MARKS):
        return f"{path.parent}: cannot write in it ({reason.lower()}){kept}"
    return f"{path}: {reason}{kept}"


def _reason(exc: OSError, path: Path | None) -> str:
    """The system's reason, or a plainer one where it misleads: a folder above the path that is a file
    ("Not a directory"), or something in the way of a folder to be made ("File exists")."""
    if path is not None and exc.errno == errno.EEXIST and not path.is_dir():
        try:
            path.stat()
        except OSError as inner:  # a link to nowhere, or a loop of links
            return rundir.os_reason(inner)
        return "is a file, not a folder"
    if path is not None and exc.errno == errno.ENOTDIR:
        return rundir.os_reason(exc)
    return (exc.strerror or str(exc)).rstrip(".")


_HIDDEN_MARKS = (".partial", ".lock", ".progress.json", ".old-")
"""What the names of the hidden files and folders written beside a run file or folder contain."""


def _interrupted(args: argparse.Namespace, exc: KeyboardInterrupt, signum: int) -> str:
    """The one line an interrupted command prints: what was kept, and what the same command will do."""
    how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    if args.command in ("data", "report"):
        return f"{how}: nothing was written"
    creating = getattr(exc, "creating", False)
    if creating or (args.command in ("run", "baselines") and not (args.out / rundir.MANIFEST).is_file()):
        return f"{how}: the run was not created yet, so nothing of it is kept; the same command starts again"
    return f"{how}: the stages that had finished are kept; the same command resumes"


def _data(args: argparse.Namespace) -> int:
    from recranker_core.config import load_profile
    from recranker_core.data import load_dataset
    from recranker_core.data.split import split_likes
    from recranker_core.stages.create import check_usable

    config = load_profile(args.profile)
    data = load_dataset(args.dataset, args.items)
    split = split_likes(data.ratings, config.data, name=data.name)
    _show(f"dataset      {data.name}  ({data.source})")
    _show(f"fingerprint  {data.fingerprint()}")
    for key, value in {**data.summary(), **split.summary()}.items():
        _show(f"{key:<20} {value:>10}")
    check_usable(split, data, config)
    return 0


def _create(args: argparse.Namespace) -> int:
    from recranker_core.config import SEEDS_LIMIT, load_profile, with_scenario
    from recranker_core.runner import check_out, create_run, run_all

    config = with_scenario(load_profile(args.profile), args.scenario)
    if args.model:
        from recranker_core.llm.models import NAMED, resolve_model

        if args.model not in NAMED:
            resolve_model(args.model)  # check the folder before any work starts
        config = dataclasses.replace(config, llm=dataclasses.replace(config.llm, model=args.model))
    if args.command == "run":
        if args.seeds is not None:
            if not 1 <= args.seeds <= SEEDS_LIMIT:
                raise InputError(f"--seeds {args.seeds}: give 1 to {SEEDS_LIMIT}")
            config = dataclasses.replace(config, seeds=args.seeds)
        run_all(
            args.dataset,
            args.out,
            config,
            items=args.items,
            overwrite=args.overwrite,
            until=args.until,
            force=args.force,
        )
        _show(f"done: {args.out}")
        return 0
    from recranker_core.runlock import writing

    check_out(args.out)  # before the lock file beside it
    with writing(args.out):
        created = create_run(args.dataset, args.out, config, items=args.items, overwrite=args.overwrite)
    _show(f"{'wrote' if created else 'up to date:'} {args.out}")
    return 0


def _stage(args: argparse.Namespace) -> int:
    """One stage on an existing run (evaluate follows rerank); the other processes of a launch print
    nothing."""
    from recranker_core.runlock import writing

    with writing(args.run):
        result = REGISTRY[args.command].run(args.run)
        if result is not None and args.command == "rerank":
            REGISTRY["evaluate"].run(args.run)
    if result is None:
        return 0
    _show(REPORTS[args.command](result, args.run))
    return 0


def _instructions(args: argparse.Namespace) -> int:
    from recranker_core import rundir

    folder = args.run / rundir.INSTRUCTIONS
    if args.show is None or not folder.is_dir():
        _stage(args)
    if args.show is not None:
        from recranker_core.prompts.show import show_user

        _show(show_user(folder, args.show), lines=True)
    return 0


REPORTS = {
    "sample": lambda s, run: f"sampled {s['draws']} draws ({s['distinct_users']} distinct users) into {run}",
    "instructions": lambda s, run: (
        f"wrote {run / 'instructions'}: train {s['train_examples']}, valid {s['valid_examples']}, "
        f"test {s['test_prompts']}"
    ),
    "train": lambda s, run: (
        f"trained on {s['examples']} examples in {s['steps']} steps; validation loss "
        f"{s['valid_loss_before']:.3f} -> {s['valid_loss_after']:.3f}"
    ),
    "rerank": lambda s, run: f"reranked {s['test_users']} test users; metrics in {run / 'metrics.json'}",
    "evaluate": lambda m, run: f"wrote {run / 'metrics.json'} ({len(m['methods'])} methods)",
}
"""What each stage command prints when it is done."""


def _report(args: argparse.Namespace) -> int:
    from recranker_core.analysis import report

    _show(f"wrote {report.write(args.run, args.out, tuple(args.compare))}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from recranker_core.serve import serve

    serve(args.port)  # replaces this process with the server; returns only on an error
    return 0


COMMANDS = {
    "data": _data,
    "baselines": _create,
    "run": _create,
    **dict.fromkeys(REPORTS, _stage),
    "instructions": _instructions,
    "report": _report,
    "serve": _serve,
}


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = terminal.plain(record.getMessage(), lines=True)
        return f"warning: {message}" if record.levelno >= logging.WARNING else message


def _quiet_libraries() -> None:
    """Keep the terminal for our own progress and messages."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore", module=r"lenskit")  # its pandas and parser chatter
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(torch|pandas|transformers)")
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
