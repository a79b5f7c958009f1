"""Choosing a hole pixel's colour from the frames that show its background."""

import numpy as np

# Two samples of one background point agree when their colours are this
# close (Euclidean RGB distance, 8-bit levels): well above sensor noise and
# the blur of sampling between pixels, well below a passer-by's difference.
AGREEMENT = 24.0

# How many times the votes of the strongest dissenting colour the winner
# needs. Below that the frames disagree on what stands behind the point (one
# of the colours is someone who stood still there for a while), and neither
# is taken: a smooth invention is a smaller error than a fragment of a
# person.
MAJORITY = 2.0


def agree(colours, weight, evidence=None, tolerance=AGREEMENT, majority=MAJORITY):
    """The colour the samples of each point agree on.

    colours: (N, S, 3) float32; weight: (N, S), 0 for no sample (see
    propagate.gather_sources: about 1 / distance in frames). Each sample
    votes with its weight for every sample it agrees with. Nearer frames
    count more: they are likelier to show the background as it is now, and
    a passer-by who stood still on the point a while ago (and so passed the
    clean test) is outvoted by the nearer frames that show it bare. The
    sample with the most votes wins if it has `majority` times the votes of
    any sample that disagrees with it, and the result is the weighted mean
    of the samples that agree with it: blending them, rather than taking
    one, hides the seams between areas filled from different frames.

    evidence: (N, S), what each sample counts towards the 1 that the
    samples agreeing with the winner must add up to (see
    propagate.NEAR_EVIDENCE); None: one sample is enough.

    Returns (colours (N, 3) float32, found (N,) bool, lead (N,) int,
    backing (N,) float): lead is the agreeing sample with the most weight
    (the nearest frame); backing is what the agreeing samples' evidence adds
    up to where none of them counts fully (all were seen right beside the
    hole), infinite where one does, 0 where nothing was found.
    """
    gap = np.zeros((len(colours), colours.shape[1], colours.shape[1]), np.float32)
    for channel in range(3):
        values = colours[:, :, channel]
        gap += np.square(values[:, :, None] - values[:, None, :])
    agrees = (gap <= tolerance * tolerance) & (weight[:, None, :] > 0)
    support = (agrees * weight[:, None, :]).sum(axis=2)
    support[weight <= 0] = -1.0
    rows = np.arange(len(colours))
    best = np.argmax(support, axis=1)
    winner = agrees[rows, best]
    dissent = np.where(winner, -1.0, support).max(axis=1)
    chosen = winner * weight
    total = chosen.sum(axis=1)
    found = (total > 0) & (support[rows, best] >= majority * dissent)
    backing = np.where(found, np.inf, 0.0)
    if evidence is not None:
        evidence_sum = (winner * evidence).sum(axis=1)
        found &= evidence_sum >= 1.0
        fully = (winner * evidence).max(axis=1) >= 1.0
        backing = np.where(found, np.where(fully, np.inf, evidence_sum), 0.0)
    result = np.zeros((len(colours), 3), np.float32)
    result[found] = (colours[found] * chosen[found, :, None]).sum(axis=1) / total[found, None]
    return result, found, np.argmax(chosen, axis=1), backing
