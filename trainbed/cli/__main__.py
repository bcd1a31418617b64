"""`python -m trainbed.cli`: the same as the `trainbed` command."""

from trainbed.cli import main

main()
