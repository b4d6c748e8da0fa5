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

The arguments of the schedule and the hooks (``train_cfg`` / ``val_cfg`` /
``test_cfg`` loops, ``param_scheduler``, ``optim_wrapper`` and its
``optimizer``, ``default_hooks``, ``custom_hooks``) are checked against
their classes' signatures (:func:`check_component_keys`), so that a typo
such as ``default_hooks.checkpoint.intervl`` stops the run before the
first step rather than after the first epoch. ``--cfg-options`` keys are
checked against the loaded config before they are merged
(:func:`check_cfg_options`); errors name the option, not the file.
:func:`load_config` does all of it.
"""
import argparse
import copy
import difflib
import inspect
import os.path as osp
from typing import Iterable, List, Mapping, Optional, Tuple

from rcl_mm.utils.cli import UserError, UserFileNotFoundError

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

#: Our localizers, whose dict options (``test_cfg``, ``train_cfg``) each
#: class checks (:meth:`ProposalMapLocalizer.check_cfg_keys`).
LOCALIZER_TYPES = ('ProposalMapLocalizer', 'RCLLocalizer')
#: Model keys that were renamed, by model type: old -> new.
RENAMED_MODEL_KEYS = {'RCLLocalizer': {'refiner': 'neck'}}
CLASS_SCORES_KEYS = ('file', 'format', 'top_k')


class ConfigKeyError(KeyError):
    """An unknown config key; the message names it, the file and a fix."""
    user_error = True

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


def check_dict_keys(options: Optional[Mapping],
                    allowed: Iterable[str],
                    where: str,
                    filename: Optional[str] = None) -> None:
    """Raise :class:`ConfigKeyError` if ``options`` has a key not in
    ``allowed``.

    Args:
        options (Mapping, optional): The dict option (None: nothing).
        allowed (Iterable[str]): Its keys.
        where (str): Its place in the config, e.g. ``'model.test_cfg'``.
        filename (str, optional): Config file, the message's prefix; None
            where there is no file (a model built in Python).
    """
    if not options:
        return
    allowed = sorted(allowed)
    source = f'{filename}: ' if filename else ''
    for key in options:
        if key not in allowed:
            match = _close(key, allowed)
            hint = f'; did you mean {match!r}?' if match else '.'
            raise ConfigKeyError(
                f'{source}unknown key {key!r} in {where}{hint} '
                f'Allowed: {allowed}.')


def check_renamed_model_key(kind: str, key: str, source: str) -> None:
    """Raise :class:`ConfigKeyError` if ``model.<key>`` is a key of
    ``kind`` that was renamed (:data:`RENAMED_MODEL_KEYS`).

    Args:
        kind (str): The model's type, e.g. ``'RCLLocalizer'``.
        key (str): A key of the model dict.
        source (str): Config file or ``'--cfg-options <key>'``.
    """
    new = RENAMED_MODEL_KEYS.get(kind, {}).get(key)
    if new is not None:
        raise ConfigKeyError(
            f'{source}: model.{key} of {kind} is now model.{new}; rename '
            f'{key}= to {new}= (and model.{key}.* options to '
            f'model.{new}.*).')


def _short_type(cfg: Mapping) -> str:
    return str(cfg.get('type', '')).split('.')[-1]


def _localizer_class(type_name: str) -> type:
    # Imported here: the top-level check needs no torch.
    from rcl_mm.models.localizers import ProposalMapLocalizer, RCLLocalizer
    return {'ProposalMapLocalizer': ProposalMapLocalizer,
            'RCLLocalizer': RCLLocalizer}[type_name]


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
        for key in model:
            check_renamed_model_key(kind, key, filename)
        _localizer_class(kind).check_cfg_keys(
            model.get('test_cfg'), model.get('train_cfg'), filename)
    for where, ev in _evaluators(cfg):
        if _short_type(ev) != 'TADMetric':
            continue
        check_dict_keys(ev.get('class_scores'), CLASS_SCORES_KEYS,
                        f'{where}.class_scores', filename)
        if ev.get('merge_windows'):
            from rcl_mm.evaluation.metrics.tad_metric import MERGE_DEFAULTS
            check_dict_keys(ev['merge_windows'], MERGE_DEFAULTS,
                            f'{where}.merge_windows', filename)


# --------------------------------------------------------------------------
# Arguments of the schedule and the hooks, against their signatures.

#: Keys the builders read themselves, besides the class's arguments.
_BUILDER_KEYS = {
    'optim_wrapper': ('type', 'optimizer', 'constructor', 'paramwise_cfg'),
    'loop': ('type', 'by_epoch'),
    'hook': ('type', 'priority'),
    'scheduler': ('type', 'convert_to_iter_based'),
    'optimizer': ('type', ),
}
#: Names never taken from a config (filled in by the builders).
_BUILT_IN = ('self', 'runner', 'dataloader', 'optimizer', 'params',
             'param_name', 'evaluator')
#: difflib ratio from which an unknown key of a class that takes
#: ``**kwargs`` it forwards elsewhere is taken for a typo of one of its
#: arguments (``intervl`` / ``interval`` is 0.93).
ARG_CUTOFF = 0.85
#: difflib ratio from which a key is suggested for one that is refused.
SUGGEST_CUTOFF = 0.6


def class_arguments(cls) -> Tuple[List[str], bool]:
    """The keyword arguments ``cls(...)`` takes, and whether it takes more.

    Follows the MRO while an ``__init__`` passes ``**kwargs`` on to its
    parent's; ``open`` is True when the last one keeps ``**kwargs`` for
    something else (e.g. ``CheckpointHook`` forwards them to
    ``Runner.save_checkpoint``).

    Returns:
        tuple[list[str], bool]: Argument names and ``open``.
    """
    names, is_open = [], False
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        if klass is object:
            break
        try:
            params = inspect.signature(klass.__init__).parameters.values()
        except (TypeError, ValueError):
            return names, True
        names += [p.name for p in params
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        is_open = any(p.kind == p.VAR_KEYWORD for p in params)
        if not is_open:
            break
    return sorted(set(names) - set(_BUILT_IN)), is_open


def _registry_class(kind: str, type_name):
    """The class ``type_name`` of a registry kind, None if not found."""
    if not isinstance(type_name, str):
        return type_name if inspect.isclass(type_name) else None
    import mmengine.hooks  # noqa: F401  (fill mmengine's registries)
    import mmengine.optim  # noqa: F401
    import mmengine.runner  # noqa: F401
    from mmengine import registry

    import rcl_mm.registry as ours
    registries = {
        'hook': [ours.HOOKS, registry.HOOKS],
        'scheduler': [registry.PARAM_SCHEDULERS],
        'loop': [registry.LOOPS],
        'optim_wrapper': [registry.OPTIM_WRAPPERS],
        'optimizer': [registry.OPTIMIZERS],
        # Any component of a config (models, datasets, transforms...).
        'any': [ours.MODELS, ours.DATASETS, ours.TRANSFORMS, ours.METRICS,
                ours.TASK_UTILS, ours.HOOKS, ours.VISUALIZERS,
                registry.LOOPS, registry.OPTIM_WRAPPERS, registry.OPTIMIZERS,
                registry.PARAM_SCHEDULERS, registry.DATA_SAMPLERS,
                registry.VISBACKENDS, registry.LOG_PROCESSORS],
    }[kind]
    for reg in registries:
        try:
            cls = reg.get(type_name)
        except Exception:  # noqa: B902  (an unknown scope prefix)
            cls = None
        if cls is not None:
            return cls
    return None


def check_arguments(options: Mapping, kind: str, where: str,
                    filename: str) -> None:
    """Raise :class:`ConfigKeyError` for a key ``options``' class ignores.

    Args:
        options (Mapping): A component's dict, with ``type`` (for loops
            and the optimizer wrapper, the Runner's default type).
        kind (str): ``'hook'``, ``'scheduler'``, ``'loop'``,
            ``'optim_wrapper'`` or ``'optimizer'``.
        where (str): Its place in the config, e.g.
            ``'default_hooks.checkpoint'``.
        filename (str): Config file (or ``--cfg-options``), for messages.
    """
    if not isinstance(options, Mapping):
        return
    cls = _registry_class(kind, options.get('type'))
    if cls is None:
        return  # an unknown type fails when built, naming it
    names, is_open = class_arguments(cls)
    allowed = set(names) | set(_BUILDER_KEYS[kind])
    for key in options:
        # _scope_: set by mmengine on dicts of a base config of another
        # scope.
        if key in allowed or key == '_scope_':
            continue
        match = difflib.get_close_matches(
            key, sorted(names if is_open else allowed), n=1,
            cutoff=ARG_CUTOFF if is_open else SUGGEST_CUTOFF)
        if is_open and not match:
            continue  # passed on through **kwargs
        hint = f'did you mean {match[0]!r}? ' if match else ''
        source = (f'{filename} {where}.{key}' if filename == '--cfg-options'
                  else f'{filename}: {where}.{key}')
        raise ConfigKeyError(
            f'{cls.__name__} takes no argument {key!r} ({source}): '
            f'{hint}Its arguments: {sorted(allowed)}.')


def _loop_type(cfg: Mapping, key: str) -> Optional[str]:
    loop = cfg.get(key)
    if not isinstance(loop, Mapping) or 'type' in loop:
        return None
    if key == 'train_cfg':
        return ('EpochBasedTrainLoop' if loop.get('by_epoch', True) else
                'IterBasedTrainLoop')
    return {'val_cfg': 'ValLoop', 'test_cfg': 'TestLoop'}[key]


def check_component_keys(cfg: Mapping, filename: str) -> None:
    """Check the schedule's and the hooks' arguments (module doc).

    Args:
        cfg (Mapping): The loaded config.
        filename (str): Config file (or ``--cfg-options``), for messages.

    Raises:
        ConfigKeyError: Naming the argument, the class and its arguments.
    """
    for key in ('train_cfg', 'val_cfg', 'test_cfg'):
        loop = cfg.get(key)
        if isinstance(loop, Mapping):
            default = _loop_type(cfg, key)
            if default is not None:
                loop = dict(loop, type=default)
            check_arguments(loop, 'loop', key, filename)
    wrapper = cfg.get('optim_wrapper')
    if isinstance(wrapper, Mapping):
        check_arguments(dict(wrapper, type=wrapper.get('type',
                                                       'OptimWrapper')),
                        'optim_wrapper', 'optim_wrapper', filename)
        check_arguments(wrapper.get('optimizer'), 'optimizer',
                        'optim_wrapper.optimizer', filename)
    schedulers = cfg.get('param_scheduler')
    if isinstance(schedulers, Mapping):
        schedulers = [schedulers]
    for i, scheduler in enumerate(schedulers or []):
        check_arguments(scheduler, 'scheduler', f'param_scheduler[{i}]',
                        filename)
    for name, hook in (cfg.get('default_hooks') or {}).items():
        check_arguments(hook, 'hook', f'default_hooks.{name}', filename)
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        check_arguments(hook, 'hook', f'custom_hooks[{i}]', filename)


# --------------------------------------------------------------------------
# --cfg-options

#: Arguments of a dataloader dict besides torch's ``DataLoader``'s.
_DATALOADER_KEYS = ('dataset', 'sampler', 'batch_sampler', 'collate_fn',
                    'worker_init_fn')


def _dataloader_keys() -> List[str]:
    from torch.utils.data import DataLoader
    return sorted(set(inspect.signature(DataLoader.__init__).parameters)
                  - {'self'} | set(_DATALOADER_KEYS))


def check_cfg_options(cfg: Mapping, options: Mapping) -> None:
    """Refuse a ``--cfg-options`` key that the config does not have.

    Each dotted key is followed through the loaded config (before the
    merge). A key that leaves the config is an error where it cannot be
    new: at top level (unless the Runner reads it, e.g. ``load_from``),
    in a dataloader (torch's ``DataLoader`` arguments), or in a dict whose
    keys are checked strictly (the localizers' ``test_cfg`` /
    ``train_cfg``, checked after the merge). In any other dict a new key
    is an error only if it is a close match of an existing one (a typo).

    Args:
        cfg (Mapping): The config as loaded from its file.
        options (Mapping): ``{dotted key: value}`` from ``--cfg-options``.

    Raises:
        ConfigKeyError: Naming ``--cfg-options <key>`` and the closest
            existing key.
    """
    # mmengine's Config is no Mapping; its ConfigDict is.
    cfg = getattr(cfg, '_cfg_dict', cfg)
    # An option that changes a component's type (optim_wrapper.type=
    # AmpOptimWrapper) is checked first, and the other options against
    # the new type's arguments (optim_wrapper.dtype).
    retyped = {k: v for k, v in options.items() if k.split('.')[-1] == 'type'}
    if retyped and len(retyped) < len(options):
        check_cfg_options(cfg, retyped)
        cfg = copy.deepcopy(cfg)
        for dotted, value in retyped.items():
            _set_dotted(cfg, dotted.split('.'), value)
        options = {k: v for k, v in options.items() if k not in retyped}
    # Types are looked up in our registries only in our scope (a type
    # 'BMN' of an mmaction2 config is mmaction2's).
    our_scope = cfg.get('default_scope') in (None, 'rcl_mm')
    for dotted in options:
        parts = dotted.split('.')
        model = cfg.get('model')
        if len(parts) > 1 and parts[0] == 'model' and isinstance(
                model, Mapping):
            check_renamed_model_key(_short_type(model), parts[1],
                                    f'--cfg-options {dotted}')
        node, path = cfg, []
        for depth, part in enumerate(parts):
            if isinstance(node, (list, tuple)):
                if part.isdigit() and int(part) < len(node):
                    node, path = node[int(part)], path + [part]
                    continue
                raise ConfigKeyError(
                    f'{".".join(path)} is a list of {len(node)} (--cfg-options'
                    f' {dotted}): use an index 0..{len(node) - 1}.')
            if not isinstance(node, Mapping):
                break  # a value replaced by a dict: mmengine's business
            if part in node:
                node, path = node[part], path + [part]
                continue
            _refuse_new_key(node, part, path, dotted, depth, our_scope)
            break


def _set_dotted(tree, parts: List[str], value) -> None:
    """``tree[a][b]... = value`` for the dotted key ``parts`` (list
    indices as digits), as mmengine's merge would."""
    for part in parts[:-1]:
        if isinstance(tree, (list, tuple)):
            tree = tree[int(part)]
        else:
            tree = tree.setdefault(part, {})
    tree[parts[-1]] = value


def _refuse_new_key(node: Mapping, part: str, path: List[str], dotted: str,
                    depth: int, our_scope: bool = True) -> None:
    here = '.'.join(path) or 'the config'
    if part == 'type' and depth > 0 and _component_class(
            node, path, our_scope) is not None:
        return  # a component built with its default type, retyped
    existing = [str(k) for k in node]
    if depth == 0:
        if part in KNOWN_TOP_LEVEL:
            return
        strict, known = True, existing
    elif len(path) == 1 and path[0].endswith('_dataloader'):
        strict, known = True, _dataloader_keys()
    elif path and path[-1] in ('test_cfg', 'train_cfg') and depth >= 2:
        return  # strict, checked after the merge with the allowed keys
    else:
        cls = _component_class(node, path, our_scope)
        if cls is not None:
            names, is_open = class_arguments(cls)
            if part in names:
                return  # an argument the config leaves at its default
            # A class that takes **kwargs for elsewhere: typos only.
            strict = not is_open
            known = names
        else:
            strict, known = False, existing
    match = difflib.get_close_matches(
        part, sorted(known), n=1,
        cutoff=SUGGEST_CUTOFF if strict else CUTOFF)
    if not strict and not match:
        return  # a new key of an open dict
    hint = f'did you mean {".".join(path + [match[0]])!r}? ' if match \
        else ''
    raise ConfigKeyError(
        f'{here} has no key {part!r} (--cfg-options {dotted}): {hint}'
        'Fix the option; mmengine would add the key and ignore it.')


def _component_class(node: Mapping, path: List[str], our_scope: bool):
    """The class a config dict builds (its ``type``, or the Runner's
    default for the loops and the optimizer wrapper), None if unknown."""
    if 'type' in node:
        type_name = node['type']
        if not our_scope and not (isinstance(type_name, str)
                                  and type_name.startswith('rcl_mm.')):
            return None
        return _registry_class('any', type_name)
    defaults = {'train_cfg': 'EpochBasedTrainLoop', 'val_cfg': 'ValLoop',
                'test_cfg': 'TestLoop', 'optim_wrapper': 'OptimWrapper'}
    if len(path) == 1 and path[0] in defaults:
        kind = 'optim_wrapper' if path[0] == 'optim_wrapper' else 'loop'
        return _registry_class(kind, defaults[path[0]])
    return None


class CfgOptionsAction(argparse.Action):
    """``--cfg-options key=value ...`` (mmengine's ``DictAction``) that
    refuses an item without ``=`` with a usage error instead of a
    traceback: ``--cfg-options`` placed before a positional argument would
    otherwise swallow it."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction
        for item in values:
            if '=' not in item:
                parser.error(
                    f'{option_string} takes key=value items; {item!r} is not '
                    f'one. Put {option_string} after the positional '
                    'arguments (it takes every item up to the next option).')
        DictAction(self.option_strings, self.dest)(parser, namespace,
                                                   values, option_string)


def add_cfg_options_argument(parser, help_text: Optional[str] = None
                             ) -> None:
    """Add ``--cfg-options`` (:class:`CfgOptionsAction`) to a parser."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help=help_text or 'override config settings, key=value (e.g. '
        'train_dataloader.batch_size=4); put it after the positional '
        'arguments')


def load_config(filename: str, cfg_options: Optional[Mapping] = None):
    """Load a config file, check it, apply ``--cfg-options``, check again.

    The file's keys (:func:`check_config_keys`,
    :func:`check_component_keys`) are checked before the options, so an
    error names the file; the options are checked against the file's
    config (:func:`check_cfg_options`) and the merged config again, and
    those errors name ``--cfg-options``.

    Args:
        filename (str): The config file.
        cfg_options (Mapping, optional): ``{dotted key: value}``.

    Returns:
        mmengine.Config: The merged config.

    Raises:
        UserError: For a missing or unparsable file.
        ConfigKeyError: For an unknown key (module doc).
    """
    from mmengine.config import Config
    if not osp.isfile(filename):
        raise UserFileNotFoundError(
            'config file not found', filename,
            'check the path (configs/ of this repository, or your own)')
    try:
        cfg = Config.fromfile(filename)
    except SyntaxError as error:
        raise UserError(
            f'the config has a syntax error at line {error.lineno}: '
            f'{error.msg}', error.filename or filename,
            'fix the config file') from error
    check_config_keys(cfg, filename)
    check_component_keys(cfg, filename)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(dict(cfg_options))
        check_config_keys(cfg, '--cfg-options')
        check_component_keys(cfg, '--cfg-options')
    return cfg
