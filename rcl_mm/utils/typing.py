# Copyright (c) rcl_mm contributors. All rights reserved.
"""Type aliases shared by the package, as mmaction2 and mmdetection use."""
from typing import List, Optional, Union

from mmaction.structures import ActionDataSample
from mmengine.config import ConfigDict

ConfigType = Union[ConfigDict, dict]
OptConfigType = Optional[ConfigType]
SampleList = List[ActionDataSample]
OptSampleList = Optional[SampleList]
