# Copyright (c) rcl_mm contributors. All rights reserved.
"""Metric tables for the terminal."""
from typing import Dict

from terminaltables import AsciiTable


def metrics_table(metrics: Dict[str, float], title: str = None) -> str:
    """Format metrics as a two-column terminal table.

    Args:
        metrics (dict[str, float]): Metric name -> value.
        title (str, optional): Table title.

    Returns:
        str: The table.
    """
    rows = [['metric', 'value']]
    for name, value in metrics.items():
        rows.append([name, f'{value:.4f}' if isinstance(value, float) else
                     str(value)])
    return AsciiTable(rows, title=title).table
