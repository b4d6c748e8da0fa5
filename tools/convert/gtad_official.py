# Copyright (c) rcl_mm contributors. All rights reserved.
"""Convert a checkpoint of the authors' G-TAD code into an rcl_mm one.

The authors' ``gtad_train.py`` saves ``{'epoch', 'state_dict'}`` of a
``torch.nn.DataParallel(GTAD)``, so every key starts with ``module.``. Their
``GTAD`` and our ``ProposalMapLocalizer`` (``GTADBackbone`` + ``PEMHead``)
hold the same parameters under other names (theirs, from
``gtad_lib/models.py`` -> ours):

- ``backbone1.*`` -> ``backbone.base.*``
- ``regu_s.*`` / ``regu_e.*`` -> ``backbone.tem_start.*`` /
  ``backbone.tem_end.*``
- ``backbone2.0.*`` -> ``backbone.proposal_gcn.*``
- ``localization.0`` -> ``backbone.sg_conv``
- ``localization.2`` / ``4`` / ``6`` -> ``head.convs.0`` / ``2`` / ``4``
- ``localization.8`` -> ``head.out``

The result loads strictly into the model of ``--config`` (default
``configs/gtad_anet.py``; ``configs/gtad_thumos.py`` for the authors'
THUMOS14 branch); a checkpoint of the other setting is refused with the
config to use instead.

Usage: python tools/convert/gtad_official.py SRC DST [--config CONFIG]
"""
import argparse
import os.path as osp
import re
import sys
from typing import Dict, Optional

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: (pattern of the authors' key, without ``module.``) -> our prefix.
KEY_MAP = (
    (r'backbone1\.', 'backbone.base.'),
    (r'regu_s\.', 'backbone.tem_start.'),
    (r'regu_e\.', 'backbone.tem_end.'),
    (r'backbone2\.0\.', 'backbone.proposal_gcn.'),
    (r'localization\.0\.', 'backbone.sg_conv.'),
    (r'localization\.2\.', 'head.convs.0.'),
    (r'localization\.4\.', 'head.convs.2.'),
    (r'localization\.6\.', 'head.convs.4.'),
    (r'localization\.8\.', 'head.out.'),
)

#: The authors' two settings, as their branches build the model.
SETTINGS = {
    'configs/gtad_anet.py': 'ActivityNet (branch anet)',
    'configs/gtad_thumos.py': 'THUMOS14 (branch master)',
}


class ConversionError(ValueError):
    """A checkpoint that cannot become one for the requested config."""


def convert_gtad_official(state_dict: Dict[str, torch.Tensor]
                          ) -> Dict[str, torch.Tensor]:
    """Rename the authors' G-TAD parameters to ours.

    Args:
        state_dict (dict): The ``state_dict`` of the authors' checkpoint,
            with or without the ``module.`` prefix of ``DataParallel``.

    Returns:
        dict: The same tensors under our names.

    Raises:
        ConversionError: A key that G-TAD's ``GTAD`` does not have.
    """
    out = {}
    unknown = []
    for key, value in state_dict.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        for pattern, prefix in KEY_MAP:
            match = re.match(pattern, name)
            if match:
                out[prefix + name[match.end():]] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ConversionError(
            f'{len(unknown)} keys are not G-TAD parameters (e.g. '
            f'{unknown[0]!r}); is this a checkpoint of the authors\' '
            'gtad_train.py?')
    return out


def describe(state_dict: Dict[str, torch.Tensor]) -> str:
    """The setting a converted state dict was trained in, in words."""
    parts = []
    base = state_dict.get('backbone.base.0.weight')
    if base is not None:
        parts.append(f'{base.shape[1] * 4}-d features')
    sg = state_dict.get('backbone.sg_conv.weight')
    gcn = state_dict.get('backbone.proposal_gcn.tconvs.4.weight')
    if sg is not None and gcn is not None:
        parts.append(f'{sg.shape[1] // gcn.shape[0]} SGAlign bins')
    head = state_dict.get('head.convs.2.weight')
    if head is not None:
        parts.append(f'{head.shape[-1]}x{head.shape[-1]} head convs')
    return ', '.join(parts) or 'unknown shapes'


def check_against(converted: Dict[str, torch.Tensor],
                  expected: Dict[str, torch.Tensor], config: str,
                  src: str) -> None:
    """Refuse a state dict that does not load strictly into ``expected``.

    Raises:
        ConversionError: Naming the checkpoint's setting and the config of
            ours that fits it, where one does.
    """
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    misshapen = sorted(
        k for k in set(expected) & set(converted)
        if tuple(expected[k].shape) != tuple(converted[k].shape))
    if not (missing or unexpected or misshapen):
        return
    fits = _matching_config(converted, exclude=config)
    hint = (f'convert it with --config {fits}' if fits else
            'no G-TAD config of ours has these shapes')
    detail = (f'{len(misshapen)} misshapen (e.g. {misshapen[0]})'
              if misshapen else
              f'{len(missing)} missing, {len(unexpected)} unexpected keys')
    raise ConversionError(
        f'{src} ({describe(converted)}) does not fit {config} '
        f'({describe(expected)}): {detail}; {hint}.')


def _model_state(config: str) -> Dict[str, torch.Tensor]:
    """The state dict of the model ``config`` builds."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    import rcl_mm  # noqa: F401
    from rcl_mm.registry import MODELS
    path = config if osp.isabs(config) else osp.join(ROOT, config)
    if not osp.isfile(path):
        path = config
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'rcl_mm')):
        model = MODELS.build(cfg.model)
    return model.state_dict()


def _matching_config(converted: Dict[str, torch.Tensor],
                     exclude: str) -> Optional[str]:
    for config in SETTINGS:
        if osp.normpath(config) == osp.normpath(exclude):
            continue
        state = _model_state(config)
        if set(state) == set(converted) and all(
                tuple(state[k].shape) == tuple(converted[k].shape)
                for k in state):
            return config
    return None


def convert_file(src: str, dst: str,
                 config: str = 'configs/gtad_anet.py') -> None:
    """Read ``src``, convert, check against ``config`` and write ``dst``."""
    from rcl_mm.utils.checkpoint import save_checkpoint_atomic
    try:
        # The authors' checkpoints are plain tensors in dicts.
        checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    except (OSError, RuntimeError, EOFError) as error:
        raise ConversionError(f'cannot read {src}: {error}') from None
    if not isinstance(checkpoint, dict):
        raise ConversionError(f'{src} holds a {type(checkpoint).__name__}, '
                              'not the dict gtad_train.py saves.')
    state_dict = checkpoint.get('state_dict', checkpoint)
    try:
        converted = convert_gtad_official(state_dict)
    except ConversionError as error:
        raise ConversionError(f'{src}: {error}') from None
    check_against(converted, _model_state(config), config, src)
    meta = dict(
        converted_from=dict(
            source='G-TAD (frostinassiky/gtad) gtad_train.py', file=src,
            epoch=checkpoint.get('epoch'), config=config))
    save_checkpoint_atomic(dict(meta=meta, state_dict=converted), dst)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a checkpoint of the authors\' G-TAD code '
        '(gtad_train.py) to rcl_mm.')
    parser.add_argument('src', help='G-TAD checkpoint (GTAD_best.pth.tar)')
    parser.add_argument('dst', help='where to write the rcl_mm checkpoint')
    parser.add_argument(
        '--config', default='configs/gtad_anet.py',
        help='the config that must load the result strictly: '
        'configs/gtad_anet.py (branch anet, default) or '
        'configs/gtad_thumos.py (branch master)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        convert_file(args.src, args.dst, args.config)
    except ConversionError as error:
        sys.exit(f'error: {error}')
    print(f'Wrote {args.dst} (loads into {args.config})')


if __name__ == '__main__':
    main()
