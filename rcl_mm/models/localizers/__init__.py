# Copyright (c) rcl_mm contributors. All rights reserved.
from .proposal_map_localizer import BMN, ProposalMapLocalizer

__all__ = ['BMN', 'ProposalMapLocalizer']
