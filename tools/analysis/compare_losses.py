# Copyright (c) rcl_mm contributors. All rights reserved.
"""Compare the logged losses of the first steps of two training runs.

A check that a run on another device or at another precision (CUDA, bf16
autocast) trains the same model as a reference run (CPU, float32) from
the same seed: it reads each run's ``vis_data/scalars.json`` and compares
the loss parts step by step.

Loss parts that take random draws (the sampled regression anchors, the
sampled segments of RCL's CAR loss) differ between devices even from one
seed, since a CPU and a CUDA generator give different numbers; the parts
matched by ``--exact`` take none, and at the first step, where both runs
hold the same weights, they must agree within ``--rtol``. Later steps
are reported, not judged (the first update already differs by the
random parts).

Usage: python tools/analysis/compare_losses.py REFERENCE_WORK_DIR
       OTHER_WORK_DIR [--steps 8] [--rtol 0.03] [--out losses.json]

Exit status 0 when the first step agrees, 1 when it does not, 2 for a
missing or empty log.
"""
import argparse
import glob
import json
import os.path as osp
import re
import sys

# Loss parts without random draws (BMN, RCL-BMN, G-TAD).
EXACT = r'^loss_tem_(start|end)$|^loss_pem_cls$|^loss_rrm_it\d+_cls$'


def read_losses(work_dir):
    """The loss parts of each logged training step of the newest run in
    ``work_dir``: ``{step: {name: value}}``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {work_dir}: train with '
            'that --work-dir first')
    steps = {}
    with open(files[-1], encoding='utf-8') as f:
        for line in f:
            record = json.loads(line)
            losses = {k: v for k, v in record.items()
                      if k.startswith('loss')}
            if losses and 'iter' in record:
                steps[int(record['step'])] = losses
    if not steps:
        raise ValueError(f'{files[-1]} has no training losses: log every '
                         'step (default_hooks.logger.interval=1)')
    return steps


def compare(reference, other, num_steps, rtol, exact=EXACT):
    """Per step and loss part, both values and their relative difference;
    the verdict of the first step on the ``exact`` parts."""
    pattern = re.compile(exact)
    rows = []
    for step in sorted(set(reference) & set(other))[:num_steps]:
        for name in sorted(set(reference[step]) & set(other[step])):
            want, got = reference[step][name], other[step][name]
            rows.append(dict(step=step, loss=name, reference=want,
                             other=got, relative_difference=abs(got - want)
                             / max(abs(want), 1e-12),
                             exact=bool(pattern.search(name))))
    first = min(reference) if reference else None
    judged = [r for r in rows if r['step'] == first and r['exact']]
    passed = bool(judged) and all(r['relative_difference'] <= rtol
                                  for r in judged)
    return dict(rows=rows, first_step=first, rtol=rtol,
                judged=[r['loss'] for r in judged], passed=passed,
                missing=sorted(set(reference.get(first, {})) ^
                               set(other.get(first, {}))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('reference', help='work dir of the reference run')
    parser.add_argument('other', help='work dir of the run to check')
    parser.add_argument('--steps', type=int, default=8)
    parser.add_argument('--rtol', type=float, default=0.03,
                        help='relative tolerance of the first step '
                        '(bf16 autocast: about 1e-2)')
    parser.add_argument('--exact', default=EXACT,
                        help='regex of the loss parts without random draws')
    parser.add_argument('--out', help='write the comparison as JSON here')
    args = parser.parse_args(argv)
    try:
        result = compare(read_losses(args.reference),
                         read_losses(args.other), args.steps, args.rtol,
                         args.exact)
    except (OSError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    for row in result['rows']:
        print(f'step {row["step"]:3d} {row["loss"]:<22} '
              f'{row["reference"]:.6f} {row["other"]:.6f} '
              f'{row["relative_difference"]:.2e}'
              + ('  (judged at the first step)' if row['exact'] else ''))
    print(f'first step, parts without random draws '
          f'({", ".join(result["judged"]) or "none"}) within rtol '
          f'{args.rtol}: {"PASS" if result["passed"] else "FAIL"}')
    if result['missing']:
        print(f'parts logged by one run only: {result["missing"]}')
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
    return 0 if result['passed'] and not result['missing'] else 1


if __name__ == '__main__':
    sys.exit(main())
