# Copyright (c) rcl_mm contributors. All rights reserved.
"""BMN proposal post-processing, vectorised and batched over videos.

Reproduces mmaction2's ``BMN.predict`` candidate rule, ``soft_nms`` and
``post_processing``. All proposal arithmetic is done in float64 (as numpy
does in mmaction2) with the same evaluation order, so IoUs of grid-aligned
proposals compare against the Soft-NMS thresholds exactly as in mmaction2
(they can be equal to them); the proposal scores themselves are multiplied
in the input dtype first, like mmaction2 multiplies the float32 network
outputs. Only the Gaussian decay factor may differ from numpy's, by
< 1e-15 relative (see :func:`soft_nms`).

Tie rule. mmaction2 sorts the proposals with ``argsort()[::-1]`` and then
repeatedly takes ``np.argmax`` (the first maximum) of the remaining list.
With a stable sort this orders equal scores by decreasing candidate index,
so among equal current scores the pick is the proposal with the larger
initial score, then the one enumerated later (larger ``d * T + t``). We
reproduce exactly that (stable ascending sort, flipped; ``torch.argmax``
returns the first maximum). numpy's default sort is only stable for small
arrays (and its SIMD sorts are not stable), so mmaction2's own choice
between exactly equal scores is implementation-dependent; the results agree
whenever scores do not tie. The final score sort of ``post_processing``
follows the same stable-sort model.
"""
import math
from functools import partial
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rcl_mm.ops.triton_utils import triton_available
from rcl_mm.registry import TASK_UTILS
from .bmn_targets import wide_float_dtype


def bmn_video_duration(
        duration_second: Union[float, Tensor],
        duration_frame: Union[int, Tensor],
        feature_extraction_interval: int = 16) -> Union[float, Tensor]:
    """Seconds covered by the features, as mmaction2's post-processing.

    ``duration_frame // interval * interval / duration_frame *
    duration_second``: the frames beyond the last full feature interval
    are not covered by the features.

    Args:
        duration_second (float | Tensor): (B,) or scalar video length in
            seconds.
        duration_frame (int | Tensor): (B,) or scalar number of frames.
        feature_extraction_interval (int): Frames per feature. Default: 16.

    Returns:
        float | Tensor: (B,) or scalar duration in seconds (float64 tensor
        when an argument is a tensor).
    """
    used = duration_frame // feature_extraction_interval * \
        feature_extraction_interval
    if isinstance(used, Tensor):
        used = used.to(wide_float_dtype(used.device))
    else:
        used = float(used)
    return used / duration_frame * duration_second


def _boundary_bins(scores: Tensor) -> Tensor:
    """BMN's candidate boundary locations for 1 <= t <= T - 2.

    Args:
        scores (Tensor): (B, T) start or end probabilities.

    Returns:
        Tensor: (B, T) bool, True at strict local peaks and where the score
        exceeds half the video's maximum; the first and last bins are
        False (the caller sets the one BMN forces).
    """
    bins = torch.zeros_like(scores, dtype=torch.bool)
    mid = scores[:, 1:-1]
    peak = (mid > scores[:, 2:]) & (mid > scores[:, :-2])
    high = mid > 0.5 * scores.amax(dim=1, keepdim=True)
    bins[:, 1:-1] = peak | high
    return bins


SCORE_RULES = ('bmn', 'gtad')


def cls_reg_scores(reg: Tensor, cls: Tensor) -> Tensor:
    """G-TAD's proposal score ``cls x reg``, taken in float64 as pandas
    takes it (its ``gtad_inference.py`` / ``gtad_postprocess.py``).

    Args:
        reg (Tensor): (B, K) tIoU regression confidences.
        cls (Tensor): (B, K) tIoU classification confidences.

    Returns:
        Tensor: (B, K) scores, float64 (float32 on MPS).
    """
    wide = wide_float_dtype(reg.device)
    return cls.to(wide) * reg.to(wide)


@torch.no_grad()
def anchor_candidates(confidence_map: Tensor,
                      valid_mask: Tensor) -> Tuple[Tensor, Tensor]:
    """Every anchor of the map where ``valid_mask`` holds, scored
    ``cls x reg`` (:func:`cls_reg_scores`); no boundary rule.

    The anchor ``(d, t)`` spans snippets ``[t, t + d + 1]``; anchors come
    in the map's order (``d`` major, ``t`` minor), the same for every
    video. G-TAD's THUMOS14 inference (:func:`gtad_window_proposals`,
    anchors with ``t + d + 1 < T``) and RCL's (the supplement's scoring,
    the backbone's valid cells ``t + d + 1 <= T``) read their candidates
    here.

    Args:
        confidence_map (Tensor): (B, 2, D, T) (reg, cls).
        valid_mask (Tensor): (D, T), nonzero at the anchors to take.

    Returns:
        tuple[Tensor, Tensor]: ``positions`` (K, 2), start and end in
        snippets, and ``scores`` (B, K); both float64 (float32 on MPS).
    """
    num_t = valid_mask.size(1)
    flat = valid_mask.flatten().nonzero().squeeze(1).to(
        confidence_map.device)
    t, d = flat % num_t, flat // num_t
    wide = wide_float_dtype(confidence_map.device)
    positions = torch.stack((t, t + d + 1), dim=-1).to(wide)
    conf = confidence_map.flatten(2)[..., flat]
    return positions, cls_reg_scores(conf[:, 0], conf[:, 1])


@torch.no_grad()
def bmn_candidates(start: Tensor, end: Tensor, confidence_map: Tensor,
                   score_rule: str = 'bmn'
                   ) -> Tuple[Tensor, Tensor, Tensor]:
    """BMN's proposal candidates for a batch of videos.

    Candidate ``(d, t)`` spans ``[t / T, (t + d + 1) / T]``; it exists if
    ``t + d + 1 < T`` and both ``t`` is a start bin and ``t + d + 1`` an end
    bin (bins: index 0 for starts, T - 1 for ends, strict local peaks and
    scores above half the video's maximum). Its score is
    ``start[t] * end[t + d + 1] * cls[d, t] * reg[d, t]`` (``score_rule=
    'bmn'``, multiplied in the input dtype as mmaction2 does), or G-TAD's
    ``cls[d, t] * reg[d, t]`` (``'gtad'``, its ActivityNet
    ``gtad_inference.py`` / ``gtad_postprocess.py``: the same candidates,
    the product taken in float64 as pandas takes it).

    Args:
        start (Tensor): (B, T) start probabilities.
        end (Tensor): (B, T) end probabilities.
        confidence_map (Tensor): (B, 2, D, T); channel 0 is the regression
            confidence, channel 1 the classification confidence.
        score_rule (str): ``'bmn'`` (default) or ``'gtad'``, see above.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``(segments, scores, valid)`` of
        shapes (B, K, 2), (B, K), (B, K) where K is the largest candidate
        count in the batch. Each video's candidates come first, in
        mmaction2's order (``d`` major, ``t`` minor); padding is zero and
        False in ``valid``. ``segments`` and ``scores`` are float64 (float32
        on MPS); scores are multiplied in the input dtype, as mmaction2
        does.
    """
    batch, num_t = start.shape
    num_d = confidence_map.shape[-2]
    device = start.device
    wide = wide_float_dtype(device)

    start_bins = _boundary_bins(start)
    start_bins[:, 0] = True
    end_bins = _boundary_bins(end)
    end_bins[:, -1] = True

    # Prefilter: only pairs of a start bin and an end bin can be
    # candidates, far fewer than the D x T grid. Each video's bin positions
    # are moved to the front (stable sort of the "not a bin" flag), starts
    # and ends of all videos in one sort.
    bins = torch.cat((start_bins, end_bins))  # 2B x T
    bin_counts = bins.sum(dim=1)
    num_bins = int(bin_counts.max()) if batch else 0
    pos = torch.sort(
        (~bins).to(torch.uint8), dim=1, stable=True).indices[:, :num_bins]
    pos_ok = torch.arange(num_bins, device=device) < bin_counts[:, None]
    pair_t = pos[:batch, :, None]  # B x N x 1, start index
    pair_dur = pos[batch:, None, :] - pair_t  # B x N x N, end - start
    pair_ok = (
        pos_ok[:batch, :, None] & pos_ok[batch:, None, :]
        & (pair_dur >= 1) & (pair_dur <= num_d))

    # mmaction2 enumerates candidates by flat map index d * T + t; sorting
    # that key (invalid pairs get a key past the map) gives its order with
    # the padding last.
    key = torch.where(pair_ok, (pair_dur - 1) * num_t + pair_t,
                      num_d * num_t).flatten(1)
    counts = pair_ok.flatten(1).sum(dim=1)
    num_k = int(counts.max()) if batch else 0
    valid = torch.arange(num_k, device=device) < counts[:, None]
    flat = torch.where(valid, key.sort(dim=1).values[:, :num_k], 0)  # B x K
    cand_t = flat % num_t
    cand_end = cand_t + flat // num_t + 1

    conf = confidence_map.flatten(2)
    if score_rule == 'gtad':
        scores = cls_reg_scores(conf[:, 0].gather(1, flat),
                                conf[:, 1].gather(1, flat))
    elif score_rule == 'bmn':
        scores = (
            start.gather(1, cand_t) * end.gather(1, cand_end) *
            conf[:, 1].gather(1, flat) * conf[:, 0].gather(1, flat))
    else:
        raise ValueError(f'score_rule must be one of {SCORE_RULES}, got '
                         f'{score_rule!r}')
    scores = torch.where(valid, scores, scores.new_zeros(())).to(wide)
    # t / T in float64 is exactly Python's start_index / tscale.
    segments = torch.stack((cand_t, cand_end), dim=-1).to(wide) / num_t
    segments = torch.where(valid[..., None], segments, segments.new_zeros(()))
    return segments, scores, valid


SOFT_NMS_IMPLS = ('auto', 'torch', 'triton')
#: The TASK_UTILS type of each named impl's pick loop.
SOFT_NMS_TYPES = dict(torch='TorchSoftNMSPicks', triton='TritonSoftNMSPicks')


@TASK_UTILS.register_module()
class TorchSoftNMSPicks:
    """Soft-NMS's pick loop as PyTorch ops (``impl='torch'``): one set of
    tensor ops over all candidates of all videos per pick.

    A pick loop (this, :class:`TritonSoftNMSPicks`, or a TASK_UTILS class
    of one's own given as ``impl=dict(type=...)``) is called as
    ``picks(scores, seg_start, seg_end, width, thresh, valid, alpha,
    num_picks) -> (pick_scores, pick_index)``, the arguments and results
    of :func:`rcl_mm.ops.soft_nms_triton.soft_nms_picks`: (B, K) sorted
    candidates in, (B, num_picks) scores when picked and positions out.
    """

    def __call__(self, scores: Tensor, seg_start: Tensor, seg_end: Tensor,
                 width: Tensor, thresh: Tensor, valid: Tensor, alpha: float,
                 num_picks: int) -> Tuple[Tensor, Tensor]:
        return _torch_soft_nms_picks(scores, seg_start, seg_end, width,
                                     thresh, valid, alpha, num_picks)


@TASK_UTILS.register_module()
class TritonSoftNMSPicks:
    """Soft-NMS's pick loop in one Triton kernel launch (``impl=
    'triton'``, CUDA; :func:`rcl_mm.ops.soft_nms_triton.soft_nms_picks`),
    the same picks as :class:`TorchSoftNMSPicks`."""

    def __call__(self, scores: Tensor, seg_start: Tensor, seg_end: Tensor,
                 width: Tensor, thresh: Tensor, valid: Tensor, alpha: float,
                 num_picks: int) -> Tuple[Tensor, Tensor]:
        from rcl_mm.ops.soft_nms_triton import soft_nms_picks
        return soft_nms_picks(scores, seg_start, seg_end, width, thresh,
                              valid, alpha, num_picks)


#: The named impls' pick loops, built once (no registry look-up per call).
_NAMED_PICKS = dict(torch=TorchSoftNMSPicks(), triton=TritonSoftNMSPicks())


def build_soft_nms_picks(impl: Union[str, dict], device: torch.device):
    """The pick loop :func:`soft_nms` runs for ``impl`` on ``device``: a
    name (:func:`resolve_soft_nms_impl`; the TASK_UTILS types of
    :data:`SOFT_NMS_TYPES`) or a TASK_UTILS config."""
    if isinstance(impl, str):
        return _NAMED_PICKS[resolve_soft_nms_impl(impl, device)]
    from rcl_mm.models.builder import build_task_util
    return build_task_util(impl)


def resolve_soft_nms_impl(impl: str, device: torch.device) -> str:
    """The Soft-NMS impl that ``impl`` names on ``device``.

    ``'auto'``: ``'triton'`` on CUDA where the ``triton`` package imports
    (one launch per batch; timings in docs/benchmark.md), ``'torch'``
    elsewhere.
    """
    if impl not in SOFT_NMS_IMPLS:
        raise ValueError(
            f'soft_nms impl must be one of {SOFT_NMS_IMPLS}, got {impl!r}')
    if impl != 'auto':
        return impl
    if torch.device(device).type == 'cuda' and triton_available():
        return 'triton'
    return 'torch'


@torch.no_grad()
def soft_nms(segments: Tensor,
             scores: Tensor,
             valid: Tensor,
             alpha: float,
             low_threshold: float,
             high_threshold: float,
             top_k: int,
             impl: str = 'torch') -> Tuple[Tensor, Tensor, Tensor]:
    """Gaussian Soft-NMS per video, as mmaction2's ``soft_nms``.

    Repeatedly picks the remaining candidate with the highest current score
    (ties: see the module docstring), multiplies the score of every other
    remaining candidate whose IoU with the pick exceeds
    ``low + (high - low) * width_of_pick`` by ``exp(-iou ** 2 / alpha)``,
    and removes the pick. Like mmaction2 (loop condition
    ``len(picks) <= top_k``) it stops after ``top_k + 1`` picks or when no
    candidate is left. The loop over picks is sequential; each step is one
    set of tensor ops over all candidates of all videos.

    Args:
        segments (Tensor): (B, K, 2) start and end.
        scores (Tensor): (B, K) scores.
        valid (Tensor): (B, K) bool, False on padding.
        alpha (float): Gaussian decay parameter.
        low_threshold (float): IoU threshold for a zero-width pick.
        high_threshold (float): IoU threshold for a unit-width pick.
        top_k (int): Picks kept by the caller; ``top_k + 1`` are made.
        impl (str | dict): ``'torch'`` (default): the loop above, one set
            of tensor ops per pick. ``'triton'`` (CUDA): the whole loop in
            one Triton kernel launch (:mod:`rcl_mm.ops.soft_nms_triton`),
            the same picks; for GPUs, where the loop's ~18 launches per
            pick dominate. ``'auto'``: ``'triton'`` on CUDA where Triton is
            installed, else ``'torch'`` (:func:`resolve_soft_nms_impl`).
            A dict: a pick loop built from TASK_UTILS (see
            :class:`TorchSoftNMSPicks`).

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``(segments, scores, valid)`` of
        shapes (B, P, 2), (B, P), (B, P) with ``P = min(top_k + 1, K)``, in
        pick order (scores are non-increasing), with the decayed scores;
        float64 (float32 on MPS). Video b has ``min(top_k + 1, n_b)`` valid
        picks, first; padding is zero.
    """
    batch, num_k = scores.shape
    device = scores.device
    picks = build_soft_nms_picks(impl, device)
    wide = wide_float_dtype(device)
    num_picks = min(top_k + 1, num_k)
    valid = valid.to(torch.bool)
    if num_picks <= 0:
        return (segments.new_zeros(batch, 0, 2).to(wide),
                scores.new_zeros(batch, 0).to(wide), valid.new_zeros(batch, 0))

    # mmaction2's initial order: descending score, equal scores with the
    # later candidate first (stable ascending sort, flipped); padding last.
    neg_inf = float('-inf')
    cur = scores.to(wide).masked_fill(~valid, neg_inf)
    order = torch.sort(cur, dim=1, stable=True).indices.flip(1)
    cur = cur.gather(1, order)
    segs = segments.to(wide).gather(1, order[..., None].expand(-1, -1, 2))
    seg_start = segs[..., 0].contiguous()
    seg_end = segs[..., 1].contiguous()
    sorted_valid = valid.gather(1, order)
    width = seg_end - seg_start
    # Per candidate, the decay threshold it imposes when it is the pick.
    thresh = low_threshold + (high_threshold - low_threshold) * width
    pick_scores, pick_idx = picks(cur, seg_start, seg_end, width, thresh,
                                  sorted_valid, alpha, num_picks)
    return _gather_picks(segs, pick_scores, pick_idx, sorted_valid)


def _torch_soft_nms_picks(cur: Tensor, seg_start: Tensor, seg_end: Tensor,
                          width: Tensor, thresh: Tensor, sorted_valid: Tensor,
                          alpha: float,
                          num_picks: int) -> Tuple[Tensor, Tensor]:
    """:class:`TorchSoftNMSPicks`: the loop of :func:`soft_nms`."""
    batch = cur.size(0)
    neg_inf = float('-inf')
    pick_info = torch.stack((seg_start, seg_end, width, thresh), dim=-1)

    # Live state in one buffer so that one scatter removes a pick: its
    # score becomes -inf (never the max again) and its start NaN (its IoU
    # is NaN, so it is never decayed and -inf * 0 cannot make a NaN score).
    # Padding starts out removed.
    state = torch.stack(
        (cur, seg_start.masked_fill(~sorted_valid, float('nan'))),
        dim=1)  # B x 2 x K
    cur, live_start = state[:, 0], state[:, 1]
    removed = state.new_tensor([neg_inf, float('nan')]).view(1, 2, 1)
    removed = removed.expand(batch, 2, 1)
    neg_alpha = -alpha

    pick_scores, pick_idx = [], []
    for _ in range(num_picks):
        # First maximum on ties. argmax + gather rather than max(dim): on
        # CPU max(dim) enters an OpenMP region even for a few rows, which
        # stalls for a scheduler tick when the cores are busy (e.g. with
        # data loader workers).
        idx = cur.argmax(dim=1, keepdim=True)
        best = cur.gather(1, idx)
        pick_scores.append(best)
        pick_idx.append(idx)
        pick = pick_info.gather(1, idx[..., None].expand(-1, -1, 4))
        p_start, p_end, p_width, p_thresh = pick.unbind(-1)  # B x 1 each
        # segment_iou(pick, candidates), inlined to reuse buffers.
        inter = torch.minimum(seg_end, p_end)
        inter.sub_(torch.maximum(live_start, p_start)).clamp_(min=0)
        union = p_width - inter
        union.add_(seg_end).sub_(live_start)
        iou = inter.div_(union)
        decayed = iou > p_thresh
        # exp(-(iou ** 2) / alpha). e ** x rather than exp(x): on CPU
        # torch.exp enters an OpenMP region from ~128 elements on, with the
        # same stalls; e ** x differs from exp by < 1e-15 relative.
        factor = torch.pow(math.e, iou.square_().div_(neg_alpha))
        cur.mul_(torch.where(decayed, factor, 1.))
        state.scatter_(2, idx[:, None].expand(-1, 2, -1), removed)

    return torch.cat(pick_scores, dim=1), torch.cat(pick_idx, dim=1)


def _gather_picks(segs: Tensor, pick_scores: Tensor, pick_idx: Tensor,
                  sorted_valid: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`soft_nms`'s outputs from its picks (B x P scores and
    positions among the sorted candidates ``segs``, B x K x 2)."""
    num_picks = pick_idx.size(1)
    out_valid = (
        torch.arange(num_picks, device=segs.device)
        < sorted_valid.sum(dim=1, keepdim=True))
    out_scores = torch.where(out_valid, pick_scores, pick_scores.new_zeros(()))
    out_segs = segs.gather(1, pick_idx[..., None].expand(-1, -1, 2))
    out_segs = torch.where(out_valid[..., None], out_segs,
                           out_segs.new_zeros(()))
    return out_segs, out_scores, out_valid


@torch.no_grad()
def post_process_proposals(segments: Tensor, scores: Tensor, valid: Tensor,
                           video_durations: Union[Tensor, Sequence[float]],
                           soft_nms_alpha: float,
                           soft_nms_low_threshold: float,
                           soft_nms_high_threshold: float,
                           top_k: int,
                           soft_nms_impl: str = 'torch') -> List[Tensor]:
    """mmaction2's ``post_processing`` for a padded batch of proposals.

    Soft-NMS (:func:`soft_nms`), sort by score, keep ``top_k``, clip to
    [0, 1] and scale by the video duration.

    Args:
        segments (Tensor): (B, K, 2) normalised start and end.
        scores (Tensor): (B, K) scores.
        valid (Tensor): (B, K) bool, False on padding.
        video_durations (Tensor | Sequence[float]): (B,) seconds covered by
            the features, see :func:`bmn_video_duration`.
        soft_nms_alpha (float): Gaussian decay parameter.
        soft_nms_low_threshold (float): Soft-NMS low IoU threshold.
        soft_nms_high_threshold (float): Soft-NMS high IoU threshold.
        top_k (int): Proposals kept per video.
        soft_nms_impl (str): ``impl`` of :func:`soft_nms`. Defaults to
            ``'torch'``.

    Returns:
        list[Tensor]: B tensors of shape (M_b, 3): start and end in seconds
        and score, sorted by descending score; ``M_b = min(top_k, n_b)``.
        float64 (float32 on MPS).
    """
    wide = wide_float_dtype(scores.device)
    # mmaction2 skips Soft-NMS for a single proposal; Soft-NMS keeps it
    # unchanged anyway, so every video goes through it.
    segs, scores, valid = soft_nms(segments, scores, valid, soft_nms_alpha,
                                   soft_nms_low_threshold,
                                   soft_nms_high_threshold, top_k,
                                   impl=soft_nms_impl)
    # The re-sort (argsort()[::-1], stable-sort model) and truncation.
    keyed = scores.masked_fill(~valid, float('-inf'))
    order = torch.sort(keyed, dim=1, stable=True).indices.flip(1)
    order = order[:, :top_k]
    scores = scores.gather(1, order)
    segs = segs.gather(1, order[..., None].expand(-1, -1, 2))
    durations = torch.as_tensor(
        video_durations, dtype=wide, device=scores.device).view(-1, 1)
    dets = torch.stack((segs[..., 0].clamp(min=0) * durations,
                        segs[..., 1].clamp(max=1) * durations, scores),
                       dim=-1)
    counts = valid.sum(dim=1).clamp(max=top_k).tolist()
    return [video[:n] for video, n in zip(dets, counts)]


@torch.no_grad()
def bmn_post_process(start: Tensor, end: Tensor, confidence_map: Tensor,
                     video_durations: Union[Tensor, Sequence[float]],
                     soft_nms_alpha: float, soft_nms_low_threshold: float,
                     soft_nms_high_threshold: float,
                     top_k: int,
                     soft_nms_impl: str = 'torch') -> List[Tensor]:
    """BMN inference post-processing for a batch of videos.

    :func:`bmn_candidates` followed by :func:`post_process_proposals`; the
    same result as mmaction2's ``BMN.predict`` for each video.

    Args:
        start (Tensor): (B, T) start probabilities.
        end (Tensor): (B, T) end probabilities.
        confidence_map (Tensor): (B, 2, D, T), channel 0 regression,
            channel 1 classification confidence.
        video_durations (Tensor | Sequence[float]): (B,) seconds covered by
            the features, see :func:`bmn_video_duration`.
        soft_nms_alpha (float): Gaussian decay parameter.
        soft_nms_low_threshold (float): Soft-NMS low IoU threshold.
        soft_nms_high_threshold (float): Soft-NMS high IoU threshold.
        top_k (int): Proposals kept per video.
        soft_nms_impl (str): ``impl`` of :func:`soft_nms`. Defaults to
            ``'torch'``.

    Returns:
        list[Tensor]: B tensors of shape (M_b, 3): start and end in seconds
        and score, sorted by descending score; ``M_b <= top_k``. float64
        (float32 on MPS).
    """
    segments, scores, valid = bmn_candidates(start, end, confidence_map)
    return post_process_proposals(segments, scores, valid, video_durations,
                                  soft_nms_alpha, soft_nms_low_threshold,
                                  soft_nms_high_threshold, top_k,
                                  soft_nms_impl)


@torch.no_grad()
def window_proposals(segments: Tensor, scores: Tensor, valid: Tensor,
                     window_start: Union[Tensor, Sequence[int]],
                     valid_length: Union[Tensor, Sequence[int]],
                     window_size: int,
                     snippet_seconds: Union[Tensor, Sequence[float]],
                     top_k: int) -> List[Tensor]:
    """Candidates of sliding windows in video seconds, no NMS.

    A window's candidate at ``[s, e]`` (fractions of the window) lies at
    ``(window_start + x * window_size) * snippet_seconds`` seconds, the
    snippet-edge convention of the datasets. Candidates that start in the
    zero padding after the video (``s * window_size >= valid_length``) are
    dropped and ends are clipped to the video's end. The ``top_k``
    highest-scoring candidates of each window are kept (stable sort, ties
    keep candidate order); Soft-NMS runs later, on all windows of a video
    together (:func:`merge_window_proposals`).

    Args:
        segments (Tensor): (B, K, 2) candidates in [0, 1] of the window.
        scores (Tensor): (B, K) scores.
        valid (Tensor): (B, K) bool, False on padding.
        window_start (Tensor | Sequence[int]): (B,) first snippet.
        valid_length (Tensor | Sequence[int]): (B,) snippets of the video
            in the window.
        window_size (int): ``T_s``.
        snippet_seconds (Tensor | Sequence[float]): (B,) seconds per
            snippet.
        top_k (int): Candidates kept per window.

    Returns:
        list[Tensor]: B tensors (M_b, 3): start and end seconds, score,
        by descending score; float64 (float32 on MPS).
    """
    wide = wide_float_dtype(scores.device)
    device = scores.device
    as_col = partial(_column, dtype=wide, device=device)
    start, length, step = (as_col(window_start), as_col(valid_length),
                           as_col(snippet_seconds))
    pos = segments.to(wide) * window_size  # snippets in the window
    keep = valid.to(torch.bool) & (pos[..., 0] < length)
    keyed = scores.to(wide).masked_fill(~keep, float('-inf'))
    order = torch.sort(keyed, dim=1, stable=True,
                       descending=True).indices[:, :top_k]
    pos = pos.gather(1, order[..., None].expand(-1, -1, 2))
    seg_start = (start + pos[..., 0]) * step
    seg_end = (start + torch.minimum(pos[..., 1], length)) * step
    dets = torch.stack((seg_start, seg_end, scores.to(wide).gather(1, order)),
                       dim=-1)
    counts = keep.sum(dim=1).clamp(max=top_k).tolist()
    return [window[:n] for window, n in zip(dets, counts)]


def _column(values, dtype, device) -> Tensor:
    return torch.as_tensor(values, dtype=dtype, device=device).view(-1, 1)


@torch.no_grad()
def merge_window_proposals(detections: Sequence[Tensor],
                           soft_nms_alpha: float = 0.3,
                           soft_nms_low_threshold: float = 0.,
                           soft_nms_high_threshold: float = 0.,
                           top_k: int = 200,
                           video_batch: int = 16,
                           soft_nms_impl: str = 'torch',
                           rule: str = 'mmaction2') -> List[Tensor]:
    """Soft-NMS over all windows of each video, in seconds.

    :func:`soft_nms` with a threshold that does not depend on the pick's
    width (equal low and high thresholds, as for seconds; 0 decays every
    overlapping candidate, the plain Gaussian Soft-NMS), then the
    ``top_k`` best by decayed score.

    Args:
        detections (Sequence[Tensor]): V tensors (N_v, 3): start, end
            (seconds), score; the concatenated windows of one video each.
        soft_nms_alpha (float): Gaussian decay parameter.
        soft_nms_low_threshold (float): IoU threshold of a zero-length
            pick (in seconds units, so best equal to the high one).
        soft_nms_high_threshold (float): IoU threshold of a 1 s pick.
        top_k (int): Detections kept per video.
        video_batch (int): Videos per batched Soft-NMS (bounds memory).
        soft_nms_impl (str): ``impl`` of :func:`soft_nms`. Defaults to
            ``'torch'``.
        rule (str): ``'mmaction2'`` (default): :func:`soft_nms` as above.
            ``'gtad'``: G-TAD's second ``Soft_NMS`` over the merged
            windows (:func:`gtad_soft_nms`, a lone detection kept; the
            thresholds and ``soft_nms_impl`` are not used), then the
            ``top_k`` best.

    Returns:
        list[Tensor]: V tensors (M_v, 3), by descending score,
        ``M_v = min(top_k, N_v)``.
    """
    if rule not in ('mmaction2', 'gtad'):
        raise ValueError(
            f'merge rule must be "mmaction2" or "gtad", got {rule!r}')
    out = []
    for begin in range(0, len(detections), video_batch):
        chunk = [d.reshape(-1, 3) for d in
                 detections[begin:begin + video_batch]]
        padded = pad_sequence(chunk, batch_first=True)
        lengths = torch.tensor([len(d) for d in chunk],
                               device=padded.device)
        valid = (torch.arange(padded.shape[1], device=padded.device) <
                 lengths[:, None])
        if padded.shape[1] == 0:
            out.extend(d[:0] for d in chunk)
            continue
        if rule == 'gtad':
            segs, scores, valid = gtad_soft_nms(
                padded[..., :2], padded[..., 2], valid, soft_nms_alpha,
                top_k, keep_single=True)
            segs, scores, counts = _sort_top(segs, scores, valid, top_k)
            dets = torch.cat((segs, scores[..., None]), dim=-1)
            out.extend(v[:n] for v, n in zip(dets, counts))
            continue
        segs, scores, valid = soft_nms(
            padded[..., :2], padded[..., 2], valid, soft_nms_alpha,
            soft_nms_low_threshold, soft_nms_high_threshold, top_k,
            impl=soft_nms_impl)
        keyed = scores.masked_fill(~valid, float('-inf'))
        order = torch.sort(keyed, dim=1, stable=True).indices.flip(1)
        order = order[:, :top_k]
        scores = scores.gather(1, order)
        segs = segs.gather(1, order[..., None].expand(-1, -1, 2))
        dets = torch.cat((segs, scores[..., None]), dim=-1)
        counts = valid.sum(dim=1).clamp(max=top_k).tolist()
        out.extend(v[:n] for v, n in zip(dets, counts))
    return out


# G-TAD's post-processing (frostinassiky/gtad, gtad_postprocess.py of the
# branches anet and master): its Soft_NMS and the rules around it.


@torch.no_grad()
def gtad_soft_nms(segments: Tensor,
                  scores: Tensor,
                  valid: Tensor,
                  alpha: float,
                  top_k: int,
                  keep_single: bool = False,
                  max_length: Optional[float] = None
                  ) -> Tuple[Tensor, Tensor, Tensor]:
    """G-TAD's ``Soft_NMS``, batched over videos (or windows).

    The authors' loop, step for step: sort by descending score; while more
    than one candidate remains, fewer than ``top_k`` are picked and the
    highest current score is above 0, pick the first highest (ties: the
    earlier in the sorted list; equal initial scores keep candidate order,
    the stable-sort model of pandas' ``sort_values``), multiply the score
    of every other remaining candidate with a positive IoU by
    ``exp(-IoU^2 / alpha)`` (no IoU threshold), and remove the pick. So
    the last remaining candidate is never picked. With ``max_length``,
    candidates at least that long get score 0 first (kept in the list, so
    they count as remaining but are never picked; G-TAD's THUMOS14 rule,
    300 frames).

    Args:
        segments (Tensor): (B, K, 2) start and end.
        scores (Tensor): (B, K) scores.
        valid (Tensor): (B, K) bool, False on padding.
        alpha (float): The Gaussian's denominator (G-TAD's ``nms_thr``:
            0.8 at ActivityNet, 0.46 at THUMOS14).
        top_k (int): Most picks (G-TAD's ``num_prop``).
        keep_single (bool): Keep a lone candidate as it is (G-TAD calls
            ``Soft_NMS`` only ``if len(df) > 1``; the loop itself would
            pick nothing). Defaults to False.
        max_length (float, optional): Length (in the segments' units) from
            which a candidate's score is set to 0. Defaults to None.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``(segments, scores, valid)`` of
        shapes (B, P, 2), (B, P), (B, P), ``P = min(top_k, K)``, in pick
        order, with the scores at the pick; float64 (float32 on MPS).
        Padding is zero.
    """
    batch, num_k = scores.shape
    device = scores.device
    wide = wide_float_dtype(device)
    valid = valid.to(torch.bool)
    num_picks = min(top_k, num_k)
    segs = segments.to(wide)
    cur = scores.to(wide)
    if max_length is not None:
        too_long = segs[..., 1] - segs[..., 0] >= max_length
        cur = torch.where(too_long, cur.new_zeros(()), cur)
    # Descending, equal scores in candidate order; padding last.
    cur = cur.masked_fill(~valid, float('-inf'))
    order = torch.sort(cur, dim=1, stable=True, descending=True).indices
    cur = cur.gather(1, order)
    segs = segs.gather(1, order[..., None].expand(-1, -1, 2))
    seg_start, seg_end = segs[..., 0], segs[..., 1]
    live = valid.gather(1, order).clone()
    remaining = live.sum(dim=1)
    single = remaining == 1
    out_scores = cur.new_zeros(batch, num_picks)
    out_idx = order.new_zeros(batch, num_picks)
    out_valid = valid.new_zeros(batch, num_picks)
    neg_inf = float('-inf')
    for j in range(num_picks):
        idx = cur.argmax(dim=1, keepdim=True)
        best = cur.gather(1, idx)
        active = (remaining > 1) & (best[:, 0] > 0)
        if keep_single and j == 0:
            active = active | single
        if not bool(active.any()):
            break
        out_scores[:, j] = torch.where(active, best[:, 0], 0.)
        out_idx[:, j] = torch.where(active, idx[:, 0], 0)
        out_valid[:, j] = active
        p_start = seg_start.gather(1, idx)
        p_end = seg_end.gather(1, idx)
        # G-TAD's IOU: 0 unless the segments meet; then
        # (min end - max start) / (max end - min start).
        inter = torch.minimum(seg_end, p_end) - torch.maximum(
            seg_start, p_start)
        union = torch.maximum(seg_end, p_end) - torch.minimum(
            seg_start, p_start)
        iou = inter / union
        decay = live & (inter > 0) & active[:, None]
        factor = torch.exp(-iou.square() / alpha)
        cur = torch.where(decay, cur * factor, cur)
        # Remove the pick of the active videos.
        gone = active[:, None] & (torch.arange(num_k, device=device) == idx)
        cur = cur.masked_fill(gone, neg_inf)
        live = live & ~gone
        remaining = remaining - active.long()
    out_segs = segs.gather(1, out_idx[..., None].expand(-1, -1, 2))
    out_segs = torch.where(out_valid[..., None], out_segs,
                           out_segs.new_zeros(()))
    return out_segs, out_scores, out_valid


def _sort_top(segs: Tensor, scores: Tensor, valid: Tensor,
              top_k: int) -> Tuple[Tensor, Tensor, List[int]]:
    """Stable sort by descending score (padding last), keep ``top_k``."""
    keyed = scores.masked_fill(~valid, float('-inf'))
    order = torch.sort(keyed, dim=1, stable=True,
                       descending=True).indices[:, :top_k]
    scores = scores.gather(1, order)
    segs = segs.gather(1, order[..., None].expand(-1, -1, 2))
    counts = valid.sum(dim=1).clamp(max=top_k).tolist()
    return segs, scores, counts


@torch.no_grad()
def gtad_post_process(start: Tensor, end: Tensor, confidence_map: Tensor,
                      video_durations: Union[Tensor, Sequence[float]],
                      soft_nms_alpha: float = 0.8,
                      top_k: int = 100) -> List[Tensor]:
    """G-TAD's ActivityNet post-processing for a batch of videos.

    BMN's candidates (G-TAD's ``gtad_inference.py`` keeps BMN's peak rule)
    scored ``cls x reg`` (:func:`bmn_candidates` with ``score_rule=
    'gtad'``), :func:`gtad_soft_nms` (a lone candidate kept as it is),
    stable sort by score, the ``top_k`` best, ``[max(0, s), min(1, e)]``
    times the video's duration.

    Args:
        start (Tensor): (B, T) start probabilities.
        end (Tensor): (B, T) end probabilities.
        confidence_map (Tensor): (B, 2, D, T) (reg, cls).
        video_durations (Tensor | Sequence[float]): (B,) seconds.
        soft_nms_alpha (float): Defaults to 0.8 (``nms_thr``).
        top_k (int): Defaults to 100.

    Returns:
        list[Tensor]: B tensors (M_b, 3): start and end seconds, score, by
        descending score.
    """
    segments, scores, valid = bmn_candidates(start, end, confidence_map,
                                             score_rule='gtad')
    segs, scores, valid = gtad_soft_nms(segments, scores, valid,
                                        soft_nms_alpha, top_k,
                                        keep_single=True)
    segs, scores, counts = _sort_top(segs, scores, valid, top_k)
    wide = wide_float_dtype(scores.device)
    durations = torch.as_tensor(video_durations, dtype=wide,
                                device=scores.device).view(-1, 1)
    dets = torch.stack((segs[..., 0].clamp(min=0) * durations,
                        segs[..., 1].clamp(max=1) * durations, scores),
                       dim=-1)
    return [video[:n] for video, n in zip(dets, counts)]


@torch.no_grad()
def gtad_window_proposals(confidence_map: Tensor,
                          window_start: Union[Tensor, Sequence[int]],
                          snippet_seconds: Union[Tensor, Sequence[float]],
                          soft_nms_alpha: float = 0.46,
                          top_k: int = 200,
                          max_length: Optional[int] = 60,
                          valid_length: Optional[Union[
                              Tensor, Sequence[int]]] = None
                          ) -> List[Tensor]:
    """G-TAD's THUMOS14 proposals of each window, Soft-NMS'd per window.

    Every anchor ``(d, t)`` with ``t + d + 1 < T`` (G-TAD's
    ``gtad_inference.py`` of branch ``master``: no peak rule) spans
    snippets ``[t, t + d + 1]`` of the window, scored ``cls x reg`` in
    float64; :func:`gtad_soft_nms` runs on each window in snippet units
    (G-TAD's frames are 5 x snippets, so its IoUs are the same numbers)
    with candidates of ``max_length`` snippets or more at score 0 (G-TAD:
    300 frames, 60 snippets of 5 frames). The picks are returned in video
    seconds, ``(window_start + x) * snippet_seconds``, in pick order; the
    windows of a video are merged by :func:`merge_window_proposals` with
    ``rule='gtad'``.

    With ``valid_length`` (our windows are zero-padded past the video's
    end, where G-TAD places its last window flush with the end), anchors
    starting in the padding are no candidates and ends are clipped to the
    video's end after the Soft-NMS, as G-TAD clips them to the video's
    frames in its output.

    Args:
        confidence_map (Tensor): (B, 2, D, T) (reg, cls) of B windows.
        window_start (Tensor | Sequence[int]): (B,) first snippet.
        snippet_seconds (Tensor | Sequence[float]): (B,) seconds per
            snippet.
        soft_nms_alpha (float): Defaults to 0.46 (``nms_thr`` of branch
            master).
        top_k (int): Picks per window. Defaults to 200.
        max_length (int, optional): Snippets from which a candidate is
            dropped. Defaults to 60.
        valid_length (Tensor | Sequence[int], optional): (B,) snippets of
            the video in each window. Defaults to None (all T).

    Returns:
        list[Tensor]: B tensors (M_b, 3): start and end seconds, score.
    """
    batch, _, num_d, num_t = confidence_map.shape
    device = confidence_map.device
    wide = wide_float_dtype(device)
    d, t = torch.meshgrid(torch.arange(num_d, device=device),
                          torch.arange(num_t, device=device), indexing='ij')
    segments, scores = anchor_candidates(confidence_map, t + d + 1 < num_t)
    segments = segments.expand(batch, -1, -1)
    as_col = partial(_column, dtype=wide, device=device)
    start, step = as_col(window_start), as_col(snippet_seconds)
    if valid_length is None:
        length = as_col([num_t] * batch)
    else:
        length = as_col(valid_length)
    valid = segments[..., 0] < length
    segs, scores, valid = gtad_soft_nms(segments, scores, valid,
                                        soft_nms_alpha, top_k,
                                        max_length=max_length)
    dets = torch.stack(((start + segs[..., 0]) * step,
                        (start + torch.minimum(segs[..., 1], length)) * step,
                        scores), dim=-1)
    counts = valid.sum(dim=1).tolist()
    return [window[:n] for window, n in zip(dets, counts)]
