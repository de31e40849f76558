# Imported by locks.py's "importer" thread: its top level starts "import-helper", which imports this
# same module, and joins it. import-helper waits for the module's import lock, which the importer
# holds until this top level ends, which waits for import-helper: a deadlock through an import.
import threading


def _import_me():
    import locks_import_helper  # noqa: F401


_helper = threading.Thread(target=_import_me, name='import-helper')
_helper.start()
_helper.join()
