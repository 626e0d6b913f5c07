"""`python -m iep_appliance` is the same as the `iep` command."""

from iep_appliance.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
