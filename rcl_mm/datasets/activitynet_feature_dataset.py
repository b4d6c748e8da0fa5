# Copyright (c) rcl_mm contributors. All rights reserved.
"""ActivityNet snippet-feature dataset that checks its annotations."""
import copy
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Union

from mmaction.datasets import ActivityNetDataset
from mmaction.utils import ConfigType
from mmengine.logging import MMLogger

from rcl_mm.registry import DATASETS
from .anet_annotations import (SEGMENT_TOLERANCE, Problem, check_video_info,
                               format_problems, load_class_names,
                               load_json_strict)

FEATURE_EXTS = ('.csv', '.npy')


@DATASETS.register_module()
class ActivityNetFeatureDataset(ActivityNetDataset):
    """ActivityNet dataset of precomputed snippet features.

    The annotation file has mmaction2's layout (see
    :class:`mmaction.datasets.ActivityNetDataset`); each sample dict gets
    ``video_name`` and ``feature_path = data_prefix['video'] / video_name +
    feature_ext``, to be read by
    :class:`rcl_mm.datasets.transforms.LoadSnippetFeature`.

    Unlike mmaction2's class, every annotation is checked when the dataset
    is built (see :func:`rcl_mm.datasets.check_video_info`), and all
    problems are reported at once, each with the annotation file, the video
    and the instance index:

    * malformed JSON, a top level that is not a non-empty dict, a video
      name given twice, a missing annotation file;
    * missing keys (``duration_second``, ``duration_frame``,
      ``feature_frame``, ``annotations``; ``segment`` and ``label`` per
      instance) or non-positive durations;
    * an empty annotation list in a training set (``test_mode=False``);
    * a segment with ``end <= start`` (zero-length or inverted);
    * a segment out of range: ``start < 0`` or ``end > duration_second +
      segment_tolerance``;
    * a label not in ``class_names`` (when given).

    Nothing is dropped silently: by default any problem raises. The real
    ActivityNet v1.3 training / validation files hold 12 zero-length
    segments; ``invalid_instances='drop'`` drops such instances (and
    training videos left without any) and logs each one as a warning.
    Format problems of a whole video always raise.

    Args:
        ann_file (str): Path to the annotation file.
        pipeline (list[dict | callable]): Data transforms.
        data_prefix (dict): ``dict(video=<feature folder>)``. Defaults to
            ``dict(video='')``.
        test_mode (bool): Validation / test set: empty annotation lists are
            allowed. Defaults to False.
        feature_ext (str): ``'.csv'`` (mmaction2's csv with a header row)
            or ``'.npy'``. Defaults to ``'.csv'``.
        class_names (str | Sequence[str], optional): Class list, or a path
            to a ``.json`` list or a text file with one name per line. When
            given, unknown labels are errors and ``metainfo['classes']`` is
            set. Defaults to None (any label).
        segment_tolerance (float): Seconds a segment may end after
            ``duration_second``. Defaults to 1.0, which admits the real
            ActivityNet files (largest overrun 0.85 s).
        invalid_instances (str): ``'raise'`` or ``'drop'`` (see above).
            Defaults to ``'raise'``.
        **kwargs: Passed to :class:`mmaction.datasets.ActivityNetDataset`.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]],
                 data_prefix: Optional[ConfigType] = dict(video=''),
                 test_mode: bool = False,
                 feature_ext: str = '.csv',
                 class_names: Optional[Union[str, Sequence[str]]] = None,
                 segment_tolerance: float = SEGMENT_TOLERANCE,
                 invalid_instances: str = 'raise',
                 **kwargs) -> None:
        if feature_ext not in FEATURE_EXTS:
            raise ValueError(f'feature_ext must be one of {FEATURE_EXTS}, '
                             f'got {feature_ext!r}.')
        if invalid_instances not in ('raise', 'drop'):
            raise ValueError('invalid_instances must be "raise" or "drop", '
                             f'got {invalid_instances!r}.')
        if segment_tolerance < 0:
            raise ValueError('segment_tolerance must be >= 0, got '
                             f'{segment_tolerance}.')
        # Set before super().__init__, which calls load_data_list.
        self.feature_ext = feature_ext
        self.segment_tolerance = float(segment_tolerance)
        self.invalid_instances = invalid_instances
        self.class_names = (
            load_class_names(class_names) if class_names is not None else
            None)
        if self.class_names is not None and kwargs.get('metainfo') is None:
            kwargs['metainfo'] = dict(classes=tuple(self.class_names))
        super().__init__(
            ann_file,
            pipeline=pipeline,
            data_prefix=data_prefix,
            test_mode=test_mode,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Load and check the annotation file.

        Returns:
            list[dict]: One dict per video, in file order: the entry of the
            annotation file plus ``video_name`` and ``feature_path``.

        Raises:
            FileNotFoundError: If the annotation file is missing.
            ValueError: If the file or any annotation is invalid.
        """
        database = load_json_strict(self.ann_file)
        if not isinstance(database, dict) or not database:
            raise ValueError(
                f'{self.ann_file}: expected a non-empty JSON object '
                '{video_name: video_info}, got '
                f'{type(database).__name__} of length {len(database)}.')
        problems: Dict[str, List[Problem]] = {}
        for video_name, video_info in database.items():
            found = check_video_info(
                video_name,
                video_info,
                test_mode=self.test_mode,
                tolerance=self.segment_tolerance,
                class_names=self.class_names)
            if found:
                problems[video_name] = found
        if problems:
            database = self._handle_problems(database, problems)

        data_list = []
        for video_name, video_info in database.items():
            data_info = copy.deepcopy(video_info)
            data_info['video_name'] = video_name
            data_info['feature_path'] = osp.join(
                self.data_prefix['video'], video_name + self.feature_ext)
            data_list.append(data_info)
        return data_list

    def _handle_problems(self, database: dict,
                         problems: Dict[str, List[Problem]]) -> dict:
        """Raise, or drop the invalid instances and log them."""
        message = format_problems(self.ann_file, problems)
        video_level = {
            name: found
            for name, found in problems.items()
            if any(index is None for index, _ in found)
            # An empty training list is the one droppable video problem.
            and database[name].get('annotations') != []
        }
        if self.invalid_instances == 'raise' or video_level:
            hint = ('fix the annotation file' if video_level else
                    'fix the annotation file, or set invalid_instances='
                    '"drop" to drop these instances with a warning')
            raise ValueError(f'{message}\nPlease {hint}.')

        kept = {}
        dropped_videos = []
        for name, info in database.items():
            bad = {index for index, _ in problems.get(name, [])}
            if not bad:
                kept[name] = info
                continue
            info = dict(info)
            info['annotations'] = [
                instance for index, instance in enumerate(info['annotations'])
                if index not in bad
            ]
            if info['annotations'] or self.test_mode:
                kept[name] = info
            else:
                dropped_videos.append(name)
        logger = MMLogger.get_current_instance()
        logger.warning(
            f'{message}\nDropped these instances (invalid_instances='
            f'"drop") and {len(dropped_videos)} training video(s) left '
            f'without annotations: {dropped_videos}')
        if not kept:
            raise ValueError(f'{self.ann_file}: no valid video left after '
                             'dropping invalid instances.')
        return kept
