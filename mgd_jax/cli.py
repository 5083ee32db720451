"""What every command line of mgd_jax shares: absl flags and one way of failing.

Each command (``launch.py``, ``python -m mgd_jax.{build_dataset,export,sample,evaluate,
hand_gallery}``) defines its flags on its own ``flags.FlagValues`` (so the commands can be imported
together, e.g. by tests) and is run as ``cli.run(main)``: ``main(argv)`` parses with
:func:`parse` and does the work. A user's mistake (a missing file, a bad value, an existing output)
prints one ``error: ...`` line naming the file or flag and exits with status 2, losing nothing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence

from absl import flags

USER_ERRORS = (FileNotFoundError, FileExistsError, ValueError)


def parse(flag_values: flags.FlagValues, argv: Sequence[str] | None, prog: str,
          doc: str = "") -> list[str]:  # fmt: skip
    """Parse ``argv`` (without the program name; None: ``sys.argv[1:]``) into ``flag_values``.

    Flags start from their defaults on every call. ``--help`` prints ``doc`` and the flags, then
    exits 0.

    Returns:
      The positional arguments.

    Raises:
      ValueError naming the flag for an unknown flag, a missing required one or a bad value.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help", "--helpshort", "--helpfull") for a in argv):
        own = flag_values.get_help().split("\nabsl.flags:")[0].strip().split("\n", 1)[-1]
        print(f"usage: {prog} [flags]\n\n{doc.strip()}\n\nflags:\n{own}")
        raise SystemExit(0)
    flag_values.unparse_flags()
    try:
        rest = flag_values([prog] + argv)
    except flags.Error as e:
        raise ValueError(f"{e} (see `{prog} --help`)") from e
    except (AttributeError, KeyError) as e:  # --config.<field>=... naming no field of the config
        message = e
        while isinstance(message, BaseException) and message.args:
            message = message.args[0]
        message = str(message).strip("'\"").replace("'\n", ": ").replace("\n", " ")
        raise ValueError(f"--config override: no field {message}") from e
    return rest[1:]


def run(main: Callable[[], object]) -> None:
    """Run ``main()`` as a program: mgd_jax logs at INFO, libraries at WARNING; a user error
    prints ``error: <message>`` to stderr and exits 2."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)  # library chatter (orbax) off
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(asctime)s %(message)s",
                        datefmt="%H:%M:%S")  # fmt: skip
    logging.getLogger("mgd_jax").setLevel(logging.INFO)
    try:
        main()
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
