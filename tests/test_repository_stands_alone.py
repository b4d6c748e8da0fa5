# Copyright (c) rcl_mm contributors. All rights reserved.
"""Code, tests and docs refer only to files of the repository."""
import os.path as osp
import re
import subprocess

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# A folder beside the checkout, as a path (built from parts, so that this
# file does not match itself).
OUTSIDE = re.compile(r'(\.\./|/work/)' + 'shared' + r'|\b' + 'shared' +
                     r'/(data|seed|design)\b')


def test_no_file_refers_to_a_folder_outside_the_repository():
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    offending = []
    for name in files:
        # The benchmark reports under docs/ record their options (paths).
        if not (name.endswith(('.py', '.md', '.sh', '.yml', '.txt', '.cfg',
                               '.in')) or
                (name.startswith('docs/') and name.endswith('.json'))):
            continue
        with open(osp.join(ROOT, name), encoding='utf-8') as f:
            for number, line in enumerate(f, 1):
                if OUTSIDE.search(line):
                    offending.append(f'{name}:{number}: {line.strip()}')
    assert not offending, '\n'.join(offending)


def test_shipped_annotation_files_are_tracked():
    files = subprocess.run(['git', 'ls-files', 'data/annotations'],
                           cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split()
    for name in ('activitynet/activity_net_v1-3_gt.json',
                 'activitynet/anet_anno_action.json',
                 'activitynet/video_info_new.csv',
                 'activitynet/sample_classification_prediction.json',
                 'thumos14/thumos_gt.json', 'README.md'):
        assert f'data/annotations/{name}' in files
