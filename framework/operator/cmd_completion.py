"""`smrotate completion SHELL`: the shell code that completes smrotate's commands and options.

Completion is argcomplete's (`pip install 'smrotate[completion]'`): the printed code makes the
shell call `smrotate` with argcomplete's environment set, and `complete` answers from the parser
itself, so every command and option completes as it is defined, nothing listed twice.
"""

from __future__ import annotations

import argparse

from smrotate.operator.command import Clock, Subcommands
from smrotate.operator.exit_codes import CliError, ExitCode
from smrotate.operator.output import emit

NAME = "completion"
SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")
MISSING = "shell completion needs argcomplete: pip install 'smrotate[completion]'"


def register(commands: Subcommands[argparse.ArgumentParser]) -> None:
    """The subcommand and its argument (no AWS options: it calls nothing)."""
    text = "print the shell code that completes smrotate's commands and options"
    parser = commands.add_parser(NAME, help=text, description=text)
    parser.add_argument("shell", choices=SHELLS, help='e.g. eval "$(smrotate completion bash)"')


def run(args: argparse.Namespace, now: Clock) -> int:
    """Print the completion code for args.shell; exit 2 naming the extra without argcomplete."""
    try:
        import argcomplete  # noqa: F401
    except ImportError:
        raise CliError(MISSING, ExitCode.USAGE) from None
    from argcomplete.shell_integration import shellcode

    emit(shellcode(["smrotate"], shell=args.shell).rstrip("\n"))
    return ExitCode.OK


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit (argcomplete's protocol); nothing when
    argcomplete is not installed."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)
