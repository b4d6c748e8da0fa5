# Copyright (c) rcl_mm contributors. All rights reserved.
from mmengine.config import Config

from rcl_mm.utils.tables import metrics_table, split_name

METRICS = {'activitynet/AR@1': 0.25, 'activitynet/AUC': 61.5}


def test_short_title_in_the_top_border():
    table = metrics_table(METRICS, title='bmn_demo')
    assert table.splitlines() == [
        '+bmn_demo----------+---------+',
        '| metric           | value   |',
        '+------------------+---------+',
        '| activitynet/AR@1 | 0.2500  |',
        '| activitynet/AUC  | 61.5000 |',
        '+------------------+---------+',
    ]


def test_wide_title_gets_a_row_of_its_own():
    title = 'rcl_bmn_demo | test split anet_anno_val.json (80 videos)'
    lines = metrics_table(METRICS, title=title).splitlines()
    assert lines[1] == f'| {title} |'
    # One width for every line; the title row is closed by the header's
    # top border.
    assert {len(line) for line in lines} == {len(title) + 4}
    assert lines[0] == '+' + '-' * (len(title) + 2) + '+'
    assert lines[2].startswith('+------------------+---')
    assert lines[3].startswith('| metric           | value ')
    assert lines[4].startswith('+------------------+---')
    assert lines[5].startswith('| activitynet/AR@1 | 0.2500 ')


def test_no_title():
    assert metrics_table({'a': 1.0}).splitlines()[0] == '+--------+--------+'


def test_split_name_is_the_test_annotation_file():
    cfg = Config(dict(test_dataloader=dict(dataset=dict(
        ann_file='data/x/anet_anno_val.json'))))
    assert split_name(cfg) == 'test split anet_anno_val.json'
