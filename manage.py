#!/usr/bin/env python
"""Django's command-line utility for the OTA server (installed: `ota-manage`)."""

from ota.cli import main

if __name__ == "__main__":
    main()
