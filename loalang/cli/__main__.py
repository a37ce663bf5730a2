"""``python -m loalang.cli``: the ``loalang`` command."""

from . import main

main()
