# Copyright (c) The Edgeworks platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to this collection (theedgeworks.devpi): for its own plugins and role only; it may change in any release.
"""The collection's version, as the age stamps record it (``by``).

galaxy.yml is not read at run time (a built collection ships MANIFEST.json instead, a checkout only galaxy.yml): the
version is this constant, and a unit test (tests/unit/plugins/plugin_utils/test_ages.py) keeps it equal to
galaxy.yml's.
"""

from __future__ import annotations

COLLECTION_VERSION = "2.0.0"
