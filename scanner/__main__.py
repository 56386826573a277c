"""`python -m scanner`: the same command line as the `scanner` console script."""

from scanner.cli import main

raise SystemExit(main())
