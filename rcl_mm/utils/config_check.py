# Copyright (c) rcl_mm contributors. All rights reserved.
"""Config keys that mmengine would silently ignore.

The Runner reads only the top-level keys it knows, so ``optim_wraper``
or ``val_evalutor`` is dropped without a word, and so are unknown keys of
dict-valued options read with ``.get``. Configs also define helper
variables at top level (``feat_dim``, ``ann_file_val``, ...), which cannot
be told from a typo once the file is loaded, so the top-level rule is:

* a key that is known (read by the Runner, or an mmengine / mmaction2
  convention) is fine;
* an unknown key that is a close match (:func:`difflib.get_close_matches`,
  ratio >= :data:`CUTOFF`) of a known key is an error naming the key, the
  config file and the match;
* any other unknown key is taken for a helper variable.

Our own dict options are checked strictly: any key that is not one of
theirs is an error listing the allowed keys (docs/reliability.md).
"""
import difflib
from typing import Iterable, List, Mapping, Optional

#: Top-level keys ``mmengine.runner.Runner.from_cfg`` / ``__init__`` read.
RUNNER_KEYS = frozenset({
    'auto_scale_lr', 'custom_hooks', 'data_preprocessor', 'default_hooks',
    'default_scope', 'env_cfg', 'experiment_name', 'launcher', 'load_from',
    'log_level', 'log_processor', 'model', 'optim_wrapper',
    'param_scheduler', 'randomness', 'resume', 'test_cfg',
    'test_dataloader', 'test_evaluator', 'train_cfg', 'train_dataloader',
    'val_cfg', 'val_dataloader', 'val_evaluator', 'visualizer', 'work_dir',
    # Read by Runner.wrap_model.
    'model_wrapper_cfg',
})
#: mmengine / mmaction2 conventions found in configs.
CONVENTION_KEYS = frozenset({
    '_base_', 'custom_imports', 'dataset_type', 'data_root',
    'data_root_val', 'ann_file_train', 'ann_file_val', 'ann_file_test',
    'train_pipeline', 'val_pipeline', 'test_pipeline', 'vis_backends',
    'max_epochs', 'feat_dim', 'temporal_dim', 'filename',
})
KNOWN_TOP_LEVEL = RUNNER_KEYS | CONVENTION_KEYS
#: difflib ratio from which an unknown key is taken for a typo.
#: ``optim_wraper`` / ``optim_wrapper`` is 0.96, ``trian_dataloader`` /
#: ``train_dataloader`` 0.94; the helper variables of our configs stay
#: well under it (the closest: ``ann_root`` / ``data_root``, 0.71).
CUTOFF = 0.85

#: Our localizers' dict options, by model type (None: the class's own
#: ``default_test_cfg``).
LOCALIZER_TYPES = ('ProposalMapLocalizer', 'RCLLocalizer')
TRAIN_CFG_KEYS = {'RCLLocalizer': ('sampler', )}
CLASS_SCORES_KEYS = ('file', 'format', 'top_k')


class ConfigKeyError(KeyError):
    """An unknown config key; the message names it, the file and a fix."""

    def __str__(self) -> str:  # KeyError would print the repr
        return str(self.args[0])


def _close(key: str, known: Iterable[str]) -> Optional[str]:
    match = difflib.get_close_matches(key, sorted(known), n=1,
                                      cutoff=CUTOFF)
    return match[0] if match else None


def check_top_level_keys(cfg: Mapping, filename: str) -> None:
    """Raise :class:`ConfigKeyError` for a top-level typo (module doc).

    Args:
        cfg (Mapping): The loaded config.
        filename (str): Config file, for the message.
    """
    for key in cfg:
        if key in KNOWN_TOP_LEVEL:
            continue
        match = _close(key, KNOWN_TOP_LEVEL)
        if match is not None:
            raise ConfigKeyError(
                f'{filename}: unknown top-level key {key!r}; did you mean '
                f'{match!r}? mmengine would ignore it silently.')


def check_dict_keys(options: Optional[Mapping], allowed: Iterable[str],
                    where: str, filename: str) -> None:
    """Raise :class:`ConfigKeyError` if ``options`` has a key not in
    ``allowed``.

    Args:
        options (Mapping, optional): The dict option (None: nothing).
        allowed (Iterable[str]): Its keys.
        where (str): Its place in the config, e.g. ``'model.test_cfg'``.
        filename (str): Config file, for the message.
    """
    if not options:
        return
    allowed = sorted(allowed)
    for key in options:
        if key not in allowed:
            match = _close(key, allowed)
            hint = f'; did you mean {match!r}?' if match else '.'
            raise ConfigKeyError(
                f'{filename}: unknown key {key!r} in {where}{hint} '
                f'Allowed: {allowed}.')


def _short_type(cfg: Mapping) -> str:
    return str(cfg.get('type', '')).split('.')[-1]


def _localizer_defaults(type_name: str) -> Mapping:
    # Imported here: the top-level check needs no torch.
    from rcl_mm.models.localizers import ProposalMapLocalizer, RCLLocalizer
    return {'ProposalMapLocalizer': ProposalMapLocalizer,
            'RCLLocalizer': RCLLocalizer}[type_name].default_test_cfg


def _evaluators(cfg: Mapping) -> List[tuple]:
    out = []
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key)
        if isinstance(evaluators, Mapping):
            evaluators = [evaluators]
        for i, ev in enumerate(evaluators or []):
            if isinstance(ev, Mapping):
                out.append((key if len(evaluators) == 1 else f'{key}[{i}]',
                            ev))
    return out


def check_config_keys(cfg: Mapping, filename: str) -> None:
    """All checks: top-level typos and our dict options.

    Args:
        cfg (Mapping): The loaded config (``mmengine.Config``).
        filename (str): Config file, for the messages.

    Raises:
        ConfigKeyError: Naming the key, the file and what to use.
    """
    check_top_level_keys(cfg, filename)
    model = cfg.get('model')
    if isinstance(model, Mapping) and _short_type(model) in LOCALIZER_TYPES:
        kind = _short_type(model)
        check_dict_keys(model.get('test_cfg'), _localizer_defaults(kind),
                        f'model.test_cfg ({kind})', filename)
        if kind in TRAIN_CFG_KEYS:
            check_dict_keys(model.get('train_cfg'), TRAIN_CFG_KEYS[kind],
                            f'model.train_cfg ({kind})', filename)
    for where, ev in _evaluators(cfg):
        if _short_type(ev) != 'TADMetric':
            continue
        check_dict_keys(ev.get('class_scores'), CLASS_SCORES_KEYS,
                        f'{where}.class_scores', filename)
        if ev.get('merge_windows'):
            from rcl_mm.evaluation.metrics.tad_metric import MERGE_DEFAULTS
            check_dict_keys(ev['merge_windows'], MERGE_DEFAULTS,
                            f'{where}.merge_windows', filename)
