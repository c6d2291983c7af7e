"""``python -m basewatch`` runs the command line."""

from basewatch.cli import main

main()
