"""``python -m imgcls`` (also what ``torchrun ... -m imgcls train`` runs)."""

from .cli.main import main

if __name__ == '__main__':
    raise SystemExit(main())
