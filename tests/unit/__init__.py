"""Services, names, stores, gc, archives, migrations and the ``modelshelf`` command, in-process, and the
structure of the source itself (URL map, imports, module sizes)."""
