"""`python -m trainbed`: the same as the `trainbed` command."""

from trainbed.cli import main

main()
