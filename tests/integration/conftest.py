from __future__ import annotations

import pytest

from helpers.site import make_inputs


@pytest.fixture
def inputs(tmp_path):
    """Throwaway CA, a cert/key pair for pypi.theedgeworks.ai on disk, and a random client secret."""
    return make_inputs(tmp_path)
