"""Package events, sent after the change is committed. Plugins connect to these instead of
patching ``package_api``. The sender is the Flask app; keyword arguments are listed per signal."""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: ``package`` (a committed ``Package``)
package_created = _signals.signal("package-created")
#: ``package``, ``package_file``
package_file_added = _signals.signal("package-file-added")
#: ``package``, ``package_file``
package_file_deleted = _signals.signal("package-file-deleted")
#: ``package``
package_deleted = _signals.signal("package-deleted")
#: ``package``: sealed (``PackageService.seal``); its files never change again
package_sealed = _signals.signal("package-sealed")
