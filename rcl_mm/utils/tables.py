# Copyright (c) rcl_mm contributors. All rights reserved.
"""Metric tables for the terminal."""
import os.path as osp
from typing import Dict, Optional

from terminaltables import AsciiTable


def metrics_table(metrics: Dict[str, float],
                  title: Optional[str] = None) -> str:
    """Format metrics as a two-column terminal table with a title.

    terminaltables writes a title into the top border only when it fits
    there and drops it silently otherwise; a longer title gets a row of
    its own above the header instead, the table widened to hold it.

    Args:
        metrics (dict[str, float]): Metric name -> value.
        title (str, optional): What the table is: model and split.

    Returns:
        str: The table.
    """
    rows = [['metric', 'value']]
    for name, value in metrics.items():
        rows.append([name, f'{value:.4f}' if isinstance(value, float) else
                     str(value)])
    table = AsciiTable(rows)
    if not title or len(title) <= table.table_width - 2:
        table.title = title
        return table.table
    # '| ' + title + ' |': widen the value column to fit.
    value_width = max(len(row[1]) for row in rows)
    rows[0][1] = rows[0][1].ljust(value_width + len(title) + 4 -
                                  table.table_width)
    body = AsciiTable(rows).table
    width = len(body.splitlines()[0])
    return '\n'.join(['+' + '-' * (width - 2) + '+',
                      f'| {title.ljust(width - 4)} |', body])


def split_name(cfg) -> str:
    """Name the split a config tests on: its test annotation file.

    Args:
        cfg (Config): A config with ``test_dataloader.dataset.ann_file``.

    Returns:
        str: e.g. ``'test split anet_anno_val.json'``.
    """
    ann_file = cfg.test_dataloader.dataset.get('ann_file')
    return f'test split {osp.basename(ann_file)}' if ann_file else \
        'test split'
