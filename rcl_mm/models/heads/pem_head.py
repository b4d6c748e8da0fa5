# Copyright (c) rcl_mm contributors. All rights reserved.
"""BMN's proposal evaluation head on the D x T proposal map."""
from typing import Tuple

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from rcl_mm.registry import MODELS
from rcl_mm.utils.typing import OptConfigType


def pem_layers(in_channels: int, hidden_channels: int,
               kernel_size: int = 3) -> Tuple[nn.Sequential, nn.Conv2d]:
    """BMN's proposal evaluation layers: ``convs`` and the output layer.

    ``convs``: a 1x1 conv, then two ``k x k`` convs (zero padding
    ``k // 2``), each followed by a ReLU, so that the map keeps its
    D x T size; ``out``: a 1x1 conv to 2 channels (``mmaction.models.BMN``'s
    ``x_2d_p`` without its sigmoid). One definition for :class:`PEMHead`
    and :class:`RCLHead`, so that weights converted by
    :func:`rcl_mm.utils.convert_mmaction2_bmn` load into both; built in
    this order, so both heads draw their initial weights alike.

    Args:
        in_channels (int): Channels of the proposal map.
        hidden_channels (int): Channels of the 2-D convs.
        kernel_size (int): Odd kernel of the two middle convs. Defaults
            to 3.

    Returns:
        tuple[nn.Sequential, nn.Conv2d]: ``convs`` (B x C_in x D x T ->
        B x C x D x T) and ``out`` (B x C x D x T -> B x 2 x D x T).
    """
    pad = kernel_size // 2
    convs = nn.Sequential(
        nn.Conv2d(in_channels, hidden_channels, kernel_size=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden_channels, hidden_channels, kernel_size,
                  padding=pad), nn.ReLU(inplace=True),
        nn.Conv2d(hidden_channels, hidden_channels, kernel_size,
                  padding=pad), nn.ReLU(inplace=True))
    return convs, nn.Conv2d(hidden_channels, 2, kernel_size=1)


@MODELS.register_module()
class PEMHead(BaseModule):
    """BMN's grid head: 2-D convolutions to a 2 x D x T confidence map.

    `BMN <https://arxiv.org/abs/1907.09702>`_'s proposal evaluation module
    after the Boundary-Matching layer: a 1x1 conv, two ``k x k`` convs
    (``kernel_size``, zero padding ``k // 2``; BMN's and G-TAD's THUMOS14
    setting: 3, G-TAD's ActivityNet setting: 1) and a 1x1 conv with
    sigmoid, giving for every grid anchor (d, t) a tIoU
    regression score (channel 0) and a tIoU classification score
    (channel 1), as ``mmaction.models.BMN``'s ``x_2d_p``.

    Args:
        in_channels (int): Channels of the proposal map. Defaults to 512.
        hidden_channels (int): Channels of the 2-D convs. Defaults to 128.
        kernel_size (int): Odd kernel of the two middle convs. Defaults
            to 3.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 512,
                 hidden_channels: int = 128,
                 kernel_size: int = 3,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError('PEMHead kernel_size must be odd (the map keeps '
                             f'its D x T size), got {kernel_size}')
        self.kernel_size = kernel_size
        self.convs, self.out = pem_layers(in_channels, hidden_channels,
                                          kernel_size)

    def forward(self, proposal_map: Tensor) -> Tensor:
        """Score every anchor of the grid.

        Args:
            proposal_map (Tensor): B x C x D x T proposal features.

        Returns:
            Tensor: B x 2 x D x T confidence map in [0, 1] (tIoU
            regression, tIoU classification).
        """
        return self.out(self.convs(proposal_map)).sigmoid()
