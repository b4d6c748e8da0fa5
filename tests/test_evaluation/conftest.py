# Copyright (c) rcl_mm contributors. All rights reserved.
import json

import pytest
from eval_helpers import ANET_GT


@pytest.fixture(scope='session')
def anet_database():
    with open(ANET_GT) as f:
        return json.load(f)['database']
