"""``python -m triggerfish``: the triggerfish command."""

from triggerfish.cli.main import main

if __name__ == "__main__":
    main()
