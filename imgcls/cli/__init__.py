"""The ``imgcls`` command line: thin argument parsing over :mod:`imgcls.apis`."""
