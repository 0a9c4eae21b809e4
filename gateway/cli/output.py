"""What the command line prints: tables, one webhook, and errors (text, or JSON with ``--json``)
with an exit status that says what kind of failure it was (each error class's status is its row
of ``gateway.errors.ERROR_TABLE``, the table the proxy's statuses come from too):

======  ==============================================================================
status  meaning
======  ==============================================================================
0       done
1       an unexpected error (a bug: please report it with the output)
2       usage or configuration: a wrong option, a bad or missing config file
3       not found: no such account or webhook
4       refused: invalid input, a conflict, an unsupported setting, a failed precondition
5       unavailable: the provider (or the state store) failed, is unreachable, rate-limits,
        or refused the gateway's credentials; nothing is known to have changed
6       outcome unknown: a write was sent and whether it took effect could not be told
130     interrupted (Ctrl-C)
======  ==============================================================================
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from gateway.errors import ConfigError, FieldProblem, GatewayError, InvalidRequest, exit_code
from gateway.logs import STANDARD_FIELDS, JsonFormatter

__all__ = ["EXIT", "Declined", "confirm", "exit_code", "report", "show", "table"]


class Declined(InvalidRequest):
    """The person answered no: said as it is (``not deleted``), not as an error."""


def confirm(args: Any, what: str, declined: str = "not done") -> None:
    """Go on with a destructive ``what`` only if confirmed: ``--yes``, or ``yes`` typed on a
    terminal (as ``gh`` asks). Elsewhere, without ``--yes``: a usage error (exit 2), nothing
    done. An answer other than yes: ``declined`` is said, exit 2, nothing done."""
    if getattr(args, "yes", False):
        return
    if not sys.stdin.isatty():
        raise InvalidRequest.at(
            "--yes", f"{what}: not done; pass --yes to confirm (standard input is not a "
            "terminal, so it cannot ask)"
        )  # fmt: skip
    answer = input(f"{what}? Type yes to go on: ")
    if answer.strip().lower() not in ("y", "yes"):
        raise Declined(problems=[FieldProblem("--yes", declined)])


EXIT = {
    "ok": 0,
    "unexpected": 1,
    "usage": 2,
    "not_found": 3,
    "refused": 4,
    "unavailable": 5,
    "outcome_unknown": 6,
    "interrupted": 130,
}


def report(error: BaseException, *, as_json: bool, out: TextIO | None = None) -> int:
    """Print ``error`` (a line per problem, or one JSON object) on ``out`` (stderr) and return
    its exit status."""
    out = out or sys.stderr
    code = exit_code(error)
    if isinstance(error, GatewayError):
        message = error.message
        problems = list(getattr(error, "problems", ()))
    else:
        message, problems = f"{type(error).__name__}: {error}", []
    if as_json:
        body: dict[str, Any] = {
            "error": {
                "type": type(error).__name__,
                "message": message,
                "problems": [{"path": p.path, "message": p.message} for p in problems],
                "exit_code": code,
            }
        }
        if isinstance(error, GatewayError):
            body["error"] |= {
                "provider": error.provider,
                "account": error.account,
                "status": error.status,
                "code": error.code,
                "trace_id": error.trace_id,
            }
        out.write(json.dumps(body) + "\n")
        return code
    if isinstance(error, Declined):
        out.write(f"{problems[0].message if problems else 'not done'}\n")
        return code
    if problems and isinstance(error, ConfigError | InvalidRequest):
        out.write("error: " + ("invalid configuration" if isinstance(error, ConfigError)
                               else "invalid input") + "\n")  # fmt: skip
        for problem in problems:
            out.write(f"  {problem}\n")
    else:
        out.write(f"error: {error if isinstance(error, GatewayError) else message}\n")
    return code


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    def cell(value: Any) -> str:
        if isinstance(value, list):
            return ",".join(map(_plain, value)) or "-"
        if value == "":
            return "-"
        return _plain(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    for line in [[c.upper() for c in columns], *cells]:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n")


def show(as_json: bool, body: dict[str, Any]) -> Any:
    """One object: returned for JSON output, else printed as aligned ``key  value`` lines."""
    if as_json:
        return body
    width = max(map(len, body))
    for key, value in body.items():
        sys.stdout.write(f"{key.ljust(width)}  {_plain(value)}\n")
    return None


def _plain(value: object) -> str:
    """A field's value for people: ``-`` for none, ``true``/``false``, JSON for structures
    (never a Python repr such as ``None`` or ``True``)."""
    if value is None:
        return "-"
    if isinstance(value, bool | dict | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


class _Readable(logging.Formatter):
    """``warning: webhook diverted (account=core-demo, id=01J…, before=0, after=1)``: the
    message with the fields passed as ``extra=``, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in STANDARD_FIELDS}
        shown = ", ".join(f"{k}={_plain(v)}" for k, v in fields.items())
        return f"{record.levelname.lower()}: {record.getMessage()}" + (
            f" ({shown})" if shown else ""
        )


@contextlib.contextmanager
def log_to_stderr(as_json: bool) -> Iterator[None]:
    """While a command runs, warnings and errors the library logs go to stderr with their
    fields: JSON lines with ``--json``, one readable line each otherwise. The logging set-up
    before is restored after (``main`` may run in a process that logs otherwise)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else _Readable())
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
