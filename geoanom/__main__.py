"""``python -m geoanom`` (and ``torchrun -m geoanom train ...``): the command line."""

from geoanom.cli import main

if __name__ == "__main__":
    main()
