"""What the three commands share: an injectable environment and exit statuses, in httpie's manner.

Each command is `main(args, env) -> ExitStatus`, so tests call it with their own streams and clock.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import TextIO

import click

from .errors import CraneError


class ExitStatus(IntEnum):
    OK = 0
    NOT_OK = 1      # ran, and the answer is "no": not valid, nothing found
    ERROR = 2       # usage errors, unreadable input


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Environment:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    vars: Mapping[str, str] = field(default_factory=lambda: os.environ)
    now: Callable[[], datetime] = _utc_now
    stdout_isatty: bool = field(default_factory=lambda: sys.stdout.isatty())

    def out(self, line: str = "") -> None:
        self.stdout.write(line + "\n")

    def err(self, line: str) -> None:
        self.stderr.write(line + "\n")


def run(command: click.Command, prog: str, args: list[str], env: Environment) -> ExitStatus:
    """Run a click command with `env` as its context object; map failures to exit statuses."""
    try:
        # click writes --help and version text to sys.stdout itself: send it to the environment's stdout.
        with contextlib.redirect_stdout(env.stdout):
            result = command.main(args, prog_name=prog, standalone_mode=False, obj=env)
    except click.exceptions.Exit as exc:
        return ExitStatus.OK if exc.exit_code == 0 else ExitStatus.ERROR
    except click.UsageError as exc:
        # click's own words are English: say in Chinese first where to look
        env.err(f"{prog}: error: 用法有误，请运行 {prog} --help 查看 / usage error: {exc.format_message()}")
        return ExitStatus.ERROR
    except click.ClickException as exc:
        env.err(f"{prog}: error: {exc.format_message()}")
        return ExitStatus.ERROR
    except click.Abort:
        env.err(f"{prog}: aborted")
        return ExitStatus.ERROR
    except CraneError as exc:
        env.err(f"{prog}: error: {exc}")
        return ExitStatus.ERROR
    except OSError as exc:
        env.err(f"{prog}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        return ExitStatus.ERROR
    return ExitStatus(result) if isinstance(result, int) else ExitStatus.OK


def parse_time(value: str | None, env: Environment) -> datetime:
    """An ISO 8601 time with zone (a date alone means its midnight UTC); None means now."""
    if value is None:
        return env.now()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time such as 2026-11-24T10:00:00+08:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
