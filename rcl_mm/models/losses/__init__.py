# Copyright (c) rcl_mm contributors. All rights reserved.
from .bmn_loss import (MapTargets, ProposalMapLoss, RCLLoss, balanced_bce_loss,
                       proposal_cls_loss, proposal_reg_loss)

__all__ = [
    'MapTargets', 'ProposalMapLoss', 'RCLLoss',
    'balanced_bce_loss', 'proposal_cls_loss', 'proposal_reg_loss'
]
