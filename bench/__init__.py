"""`make bench`: performance checks of rootwatch, run as `python -m bench [SECTION]`."""
