# Copyright (c) rcl_mm contributors. All rights reserved.
"""What tools/train.py and tools/test.py share: config set-up and launch."""
import gc
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config

from rcl_mm.utils.cli import UserError
from rcl_mm.utils.compat import apply_stack_fixes
from rcl_mm.utils.config_check import load_config


def prepare_config(config: str,
                   work_dir: Optional[str] = None,
                   cfg_options: Optional[dict] = None,
                   launcher: str = 'none') -> Config:
    """Load a config and apply the command-line settings.

    Args:
        config (str): Config file.
        work_dir (str, optional): Overrides ``cfg.work_dir``. Without it
            and without one in the config, ``./work_dirs/<config name>``.
        cfg_options (dict, optional): ``--cfg-options`` overrides.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or
            ``'mpi'``.

    Returns:
        Config: The config, ready for ``Runner.from_cfg``.

    Raises:
        ConfigKeyError: For a top-level key that looks like a typo of one
            the Runner reads, an unknown key of our dict options, an
            argument a hook or the schedule would ignore, or a
            ``--cfg-options`` key the config does not have
            (:func:`rcl_mm.utils.config_check.load_config`).
    """
    # Our tools write atomically and load mmengine checkpoints under
    # torch >= 2.6 whatever the config (rcl_mm.utils.compat).
    apply_stack_fixes()
    # Keys mmengine would ignore silently (typos) stop the run here,
    # naming the file or the command-line option.
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    config_work_dir = cfg.get('work_dir')
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    _dump_results_into_work_dir(cfg, config_work_dir)
    if launcher != 'none' and not torch.cuda.is_available():
        _init_cpu_distributed(cfg)
    return cfg


def _dump_results_into_work_dir(cfg: Config,
                                config_work_dir: Optional[str]) -> None:
    """Put an evaluator's result file into the run's work dir.

    A relative path goes under ``cfg.work_dir``; a path inside the
    config's own ``work_dir`` (``f'{work_dir}/results.json'``) follows
    ``--work-dir`` there.
    """
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key)
        if evaluators is None:
            continue
        if not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        for evaluator in evaluators:
            # TADMetric's `dump`, mmaction2's ANetMetric's dump_config.out.
            if isinstance(evaluator.get('dump'), str):
                evaluator['dump'] = _under_work_dir(
                    evaluator['dump'], cfg.work_dir, config_work_dir)
            dump = evaluator.get('dump_config')
            if dump and dump.get('out'):
                dump['out'] = _under_work_dir(dump['out'], cfg.work_dir,
                                              config_work_dir)


def evaluator_results_file(cfg: Config) -> str:
    """Where the test evaluator writes the results JSON.

    ``dump`` of our ``TADMetric``, or ``dump_config.out`` of mmaction2's
    ``ANetMetric``.

    Args:
        cfg (Config): A config with ``test_evaluator``.

    Returns:
        str: The results file of the first evaluator that writes one.

    Raises:
        KeyError: If no test evaluator writes a results file.
    """
    evaluators = cfg.test_evaluator
    if not isinstance(evaluators, (list, tuple)):
        evaluators = [evaluators]
    for evaluator in evaluators:
        if evaluator.get('dump'):
            return evaluator['dump']
        if evaluator.get('dump_config', {}).get('out'):
            return evaluator['dump_config']['out']
    raise KeyError('The test evaluator writes no results file; set '
                   "dump='results.json' (TADMetric).")


def _under_work_dir(path: str, work_dir: str,
                    config_work_dir: Optional[str] = None) -> str:
    if config_work_dir and work_dir != config_work_dir:
        inside = osp.relpath(osp.normpath(path),
                             osp.normpath(config_work_dir))
        if not inside.startswith('..'):
            return osp.join(work_dir, inside)
    if osp.isabs(path) or path.startswith(('.', work_dir)):
        return path
    return osp.join(work_dir, path)


def _init_cpu_distributed(cfg: Config) -> None:
    """Start a gloo process group for torchrun on a machine without GPUs.

    mmengine's launcher calls CUDA-only functions, so on the CPU we start
    the process group ourselves (the Runner then skips its own set-up) and
    let DDP wrap the model without device ids.
    """
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.env_cfg = cfg.get('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False)
    # One process per core is enough work for each.
    torch.set_num_threads(max(1, (os.cpu_count() or 1) //
                              int(os.environ.get('WORLD_SIZE', 1))))


def check_train_iterations(runner) -> None:
    """Refuse, before the first step, a split that trains nothing.

    With ``drop_last=True`` and fewer videos per process than the batch
    size, an epoch has no iteration: the Runner would save an empty
    checkpoint (``iter=0``, no optimizer state) and report metrics of the
    untrained model. The number of batches is taken on every process
    (the smallest counts), so all of them stop together.

    Args:
        runner (Runner): Built, before ``train()``; its train loop (and
            dataloader) is built here, as ``train()`` would first.

    Raises:
        UserError: Naming the videos, processes, batch size and the fix.
    """
    from mmengine.dist import all_reduce, get_world_size
    loader = runner.train_loop.dataloader
    batches = torch.tensor([len(loader)], dtype=torch.int64)
    world_size = get_world_size()
    if world_size > 1:
        all_reduce(batches, op='min')
    if int(batches) > 0:
        return
    num_videos = len(loader.dataset)
    per_process = -(-num_videos // world_size)
    raise UserError(
        f'training would run 0 iterations per epoch: {num_videos} '
        f'video(s) over {world_size} process(es) give {per_process} per '
        f'process, fewer than batch_size={loader.batch_size} with '
        f'drop_last={getattr(loader, "drop_last", None)}',
        'train_dataloader',
        'use a smaller train_dataloader.batch_size, fewer processes, or '
        'train_dataloader.drop_last=False (more training videos also do)')


def end_distributed() -> None:
    """Destroy the default process group, if one was started.

    tools/train.py and tools/test.py call it after their ``main`` returns,
    when the Runner is gone. DDP's model keeps the process group alive
    (in reference cycles, hence the collection here); a gloo group whose
    threads are still running when the interpreter exits aborts the
    process (``terminate called without an active exception``) after its
    work is done, now and then, and fails the whole torchrun job.
    """
    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
