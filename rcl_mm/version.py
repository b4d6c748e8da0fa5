# Copyright (c) rcl_mm contributors. All rights reserved.
"""Version of the rcl_mm package."""

__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Parse a version string such as ``'0.1.0'`` or ``'0.1.0rc1'``.

    Args:
        version_str (str): The version string.

    Returns:
        tuple: e.g. ``(0, 1, 0)`` or ``(0, 1, 0, 'rc1')``.
    """
    parts = []
    for part in version_str.split('.'):
        if part.isdigit():
            parts.append(int(part))
        else:
            digits = ''.join(ch for ch in part if ch.isdigit())
            suffix = part[len(digits):]
            parts.extend([int(digits), suffix])
    return tuple(parts)


version_info = parse_version_info(__version__)
