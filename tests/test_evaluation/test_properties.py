# Copyright (c) rcl_mm contributors. All rights reserved.
"""Properties of the evaluator on small generated cases (hypothesis).

Cases: 1-3 videos, 1-3 classes, up to 4 ground-truth instances per video
and up to 10 predictions, with segments on a half-second grid (start <
end), so duplicates, nested and touching segments are frequent.
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rcl_mm.evaluation.functional import (ACTIVITYNET_TIOU_THRESHOLDS,
                                          THUMOS14_TIOU_THRESHOLDS,
                                          Predictions, ar_at_an,
                                          average_recall_vs_proposals,
                                          detection_map,
                                          ground_truth_from_videos)

# Both datasets' thresholds: 0.3 ... 0.95.
THRESHOLDS = np.unique(np.concatenate(
    [THUMOS14_TIOU_THRESHOLDS, ACTIVITYNET_TIOU_THRESHOLDS]))
CLASSES = ('jump', 'run', 'swim')
FEW = settings(max_examples=100, deadline=None)

# [start, end] on a half-second grid, 0.5 to 2 s long.
segments = st.tuples(st.integers(0, 8), st.integers(1, 4)).map(
    lambda t: (t[0] / 2., (t[0] + t[1]) / 2.))


@st.composite
def ground_truths(draw, every_video=False):
    """A GroundTruth with at least one instance (in each video with
    ``every_video``)."""
    num_videos = draw(st.integers(1, 3))
    classes = CLASSES[:draw(st.integers(1, 3))]
    videos = []
    for v in range(num_videos):
        anns = draw(st.lists(
            st.tuples(st.sampled_from(classes), segments), max_size=4))
        if (v == 0 or every_video) and not anns:
            anns = [(classes[0], draw(segments))]
        videos.append((f'video_{v}', 10.0, [
            dict(label=label, segment=list(seg)) for label, seg in anns]))
    return ground_truth_from_videos(videos)


def make_predictions(gt, rows):
    """Predictions in the order of ``rows``: (video, class, segment,
    score), class an index into ``gt.class_names``."""
    rows = list(rows)
    return Predictions(
        video_ids=list(gt.video_ids),
        video_index=np.array([r[0] for r in rows], dtype=np.int64),
        segments=np.array([r[2] for r in rows],
                          dtype=np.float64).reshape(-1, 2),
        scores=np.array([r[3] for r in rows], dtype=np.float64),
        label_names=list(gt.class_names),
        labels=np.array([r[1] for r in rows], dtype=np.int64))


@st.composite
def cases(draw, distinct_scores=False, min_size=0, every_video=False):
    """(GroundTruth, prediction rows); scores on a 1/20 grid (ties) or,
    with ``distinct_scores``, all different."""
    gt = draw(ground_truths(every_video))
    n = draw(st.integers(min_size, 10))
    if distinct_scores:
        scores = draw(st.lists(st.integers(1, 100), min_size=n, max_size=n,
                               unique=True))
    else:
        scores = draw(st.lists(st.integers(1, 20), min_size=n,
                               max_size=n))
    step = 1 if distinct_scores else 5
    rows = []
    for k in range(n):
        rows.append((draw(st.integers(0, len(gt.video_ids) - 1)),
                     draw(st.integers(0, len(gt.class_names) - 1)),
                     draw(segments), step * scores[k] / 100.))
    return gt, rows


@FEW
@given(cases())
def test_map_in_unit_interval(case):
    gt, rows = case
    result = detection_map(gt, make_predictions(gt, rows), THRESHOLDS)
    assert result['mAP'].shape == (len(THRESHOLDS), )
    assert ((result['mAP'] >= 0) & (result['mAP'] <= 1)).all()
    assert ((result['ap'] >= 0) & (result['ap'] <= 1)).all()
    assert 0 <= result['average_mAP'] <= 1


@FEW
@given(cases(distinct_scores=True), st.randoms(use_true_random=False))
def test_map_invariant_to_prediction_order(case, random):
    """Reordering the predictions leaves every AP unchanged.

    Scores are distinct here on purpose: like the official code, tied
    scores rank by ``np.argsort(scores)[::-1]`` in file order (numpy's
    quicksort, reversed), so with ties the order of the file can change
    which tied prediction matches first (docs/evaluation.md)."""
    gt, rows = case
    shuffled = list(rows)
    random.shuffle(shuffled)
    a = detection_map(gt, make_predictions(gt, rows), THRESHOLDS)
    b = detection_map(gt, make_predictions(gt, shuffled), THRESHOLDS)
    np.testing.assert_array_equal(a['ap'], b['ap'])
    assert a['average_mAP'] == b['average_mAP']


@FEW
@given(ground_truths(), st.randoms(use_true_random=False),
       st.booleans())
def test_perfect_predictions_give_one(gt, random, tied):
    """One prediction per instance, exact segment and label: mAP 1 at
    every threshold, whatever the scores (tied or not) and order."""
    rows = [(int(v), int(c), tuple(s), 0.5 if tied else random.random())
            for v, c, s in zip(gt.video_index, gt.labels, gt.segments)]
    random.shuffle(rows)
    result = detection_map(gt, make_predictions(gt, rows), THRESHOLDS)
    np.testing.assert_array_equal(result['mAP'], 1.0)
    assert result['average_mAP'] == 1.0


@FEW
@given(cases(distinct_scores=True), st.data())
def test_lowest_false_positive_never_raises_map(case, data):
    """A prediction scored below all others that overlaps no instance
    (placed after every segment: IoU 0) never raises mAP. It even leaves
    every AP unchanged: it adds a point at the same recall with a lower
    precision, which the interpolated precision envelope ignores.

    The other scores are distinct: with ties, one more prediction changes
    numpy's (unstable) quicksort order among the tied ones, as in the
    official code, which can change which of them matches."""
    gt, rows = case
    low = min([r[3] for r in rows], default=1.) / 2.
    start = float(data.draw(st.integers(20, 30), label='start'))
    fp = (data.draw(st.integers(0, len(gt.video_ids) - 1), label='video'),
          data.draw(st.integers(0, len(gt.class_names) - 1),
                    label='class'), (start, start + 1.), low)
    where = data.draw(st.integers(0, len(rows)), label='position')
    before = detection_map(gt, make_predictions(gt, rows), THRESHOLDS)
    after = detection_map(
        gt, make_predictions(gt, rows[:where] + [fp] + rows[where:]),
        THRESHOLDS)
    assert (after['mAP'] <= before['mAP']).all()
    np.testing.assert_array_equal(after['ap'], before['ap'])


@FEW
@given(cases(distinct_scores=True), st.data())
def test_lowest_prediction_never_lowers_map(case, data):
    """The other side: a prediction scored below all others, anywhere,
    cannot change how the others match, so it is a true positive (AP
    up) or a trailing false positive (AP unchanged). Distinct scores, as
    above."""
    gt, rows = case
    low = min([r[3] for r in rows], default=1.) / 2.
    extra = (data.draw(st.integers(0, len(gt.video_ids) - 1)),
             data.draw(st.integers(0, len(gt.class_names) - 1)),
             data.draw(segments), low)
    before = detection_map(gt, make_predictions(gt, rows), THRESHOLDS)
    after = detection_map(gt, make_predictions(gt, rows + [extra]),
                          THRESHOLDS)
    assert (after['ap'] >= before['ap']).all()


@FEW
@given(cases(min_size=1, every_video=True))
def test_ar_at_an_and_auc_ranges(case):
    gt, rows = case
    result = average_recall_vs_proposals(gt, make_predictions(gt, rows),
                                         100)
    ar = ar_at_an(result)
    assert set(ar) == {'AR@1', 'AR@5', 'AR@10', 'AR@100', 'AUC'}
    for key in ('AR@1', 'AR@5', 'AR@10', 'AR@100'):
        assert 0 <= ar[key] <= 1, (key, ar[key])
    assert ((result['avg_recall'] >= 0) & (result['avg_recall'] <= 1)).all()
    assert ((result['recall'] >= 0) & (result['recall'] <= 1)).all()
    assert 0 <= ar['AUC'] <= 100
    # More proposals per video never find fewer instances.
    assert (np.diff(result['avg_recall']) >= 0).all()


@FEW
@given(cases(distinct_scores=True, min_size=1, every_video=True),
       st.data())
def test_lowest_false_positive_keeps_final_recall(case, data):
    """AR@AN: what holds for a lowest-scored false positive.

    AR at a fixed AN is not monotone in it: the per-video budget
    ``int(n * ratio)`` depends on the total number of proposals, so one
    more proposal can shift every video's budget (and the AN axis). With
    all proposals kept (``max_avg_proposals=0``) the recall at the last
    AN, over all proposals, is unchanged: the false positive finds
    nothing and hides nothing."""
    gt, rows = case
    low = min(r[3] for r in rows) / 2.
    fp = (data.draw(st.integers(0, len(gt.video_ids) - 1)), 0,
          (40., 41.), low)
    before = average_recall_vs_proposals(gt, make_predictions(gt, rows), 0)
    after = average_recall_vs_proposals(
        gt, make_predictions(gt, rows + [fp]), 0)
    np.testing.assert_array_equal(after['recall'][:, -1],
                                  before['recall'][:, -1])
    assert after['avg_recall'][-1] == before['avg_recall'][-1]
