"""Optional positional arguments for invoke tasks (`invoke synth prod`, `invoke synth --all`, `invoke policy`).

invoke treats every positional argument as required and has no hook for an optional one. Tasks built
with `optional_positionals(...)` mark theirs; the one patch below gives a still-missing marked argument
the value "" when invoke finishes reading that task's arguments, instead of failing. Until then the
argument counts as missing, so invoke still consumes the next bare word as its value.
Only invoke is imported here: `invoke --list` must stay fast.
"""

from __future__ import annotations

from invoke import Task
from invoke.parser.parser import ParseMachine


def optional_positionals(*names: str) -> type[Task]:
    """A Task class whose positional arguments `names` may be omitted (the task body receives "")."""

    class OptionalPositionalTask(Task):
        def get_arguments(self, ignore_unknown_help=None):
            arguments = super().get_arguments(ignore_unknown_help=ignore_unknown_help)
            for argument in arguments:
                if argument.positional and argument.name in names:
                    argument.optional_positional = True
            return arguments

    return OptionalPositionalTask


_complete_context = ParseMachine.complete_context


def _complete_context_allowing_optional(self: ParseMachine) -> None:
    if self.context:
        for argument in self.context.positional_args:
            if getattr(argument, "optional_positional", False) and argument.value is None:
                argument.set_value("", cast=False)
    _complete_context(self)


if not getattr(ParseMachine.complete_context, "_allows_optional", False):
    _complete_context_allowing_optional._allows_optional = True  # type: ignore[attr-defined]
    ParseMachine.complete_context = _complete_context_allowing_optional
