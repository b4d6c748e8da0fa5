# Copyright (c) rcl_mm contributors. All rights reserved.
from .proposal_map_localizer import BMN, ProposalMapLocalizer
from .rcl_localizer import RCLLocalizer

__all__ = ['BMN', 'ProposalMapLocalizer', 'RCLLocalizer']
