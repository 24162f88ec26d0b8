"""Bootstrap intervals of FAD, FAD-inf and KAD, by resampling sufficient statistics.

A set is a list of items, item a having c_a embedding rows x_{a,1..c_a} (an item's rows are drawn
together: they come from one clip). A bootstrap resample of N items is a count vector w (w_a copies
of item a, sum w_a = N); ``bootstrap_counts`` draws R of them as metrics/statistics.py draws its
resamples: ``rng.integers(0, N, size=(R, N))`` from the generator the caller seeds.

FAD of a resample of one set against a fixed other set (the reference when the generated items
are resampled, the generated set when the reference is): from per-item sums s_a = sum_j x_{a,j}
and second moments M_a = sum_j x_{a,j} x_{a,j}^T (rows centred on the full set's mean, for
rounding),
    n = sum_a w_a c_a,   mu = sum_a w_a s_a / n,   S = (sum_a w_a M_a - n mu mu^T) / (n - 1),
exactly the mean and N - 1 covariance of the resampled rows. The Frechet distance needs
    tr((S S_f)^(1/2)) = sum_i sqrt(lambda_i(B S B)),   B = S_f^(1/2) of the fixed set,
and B S B is linear in w too when the M_a are taken of the rows x B: one matrix product
R x N x D^2 for all resamples, then one symmetric ``eigvalsh`` per resample (equal to scipy's
sqrtm route for positive semi-definite covariances; negative rounding clipped to 0). The Frechet
distance is symmetric, so the same code resamples either side.

KAD of a resample from item kernel block sums K^{xx}_{ab} = sum_{j,l} k(x_{a,j}, x_{b,l}) (and
K^{yy}, K^{xy}), with w the eval and v the reference counts, m = w.c^x, n = v.c^y:
    MMD^2 = (w^T K^{xx} w - m) / (m (m - 1)) + (v^T K^{yy} v - n) / (n (n - 1)) - 2 w^T K^{xy} v / (m n),
the unbiased estimator over the resampled rows, copies counted as distinct points (k(x, x) = 1 is
the term removed for each row paired with itself). The kernel bandwidth is held at the full
reference set's value (metrics/distribution.py: kad), so the interval is conditional on it.

FAD-inf (Chung et al., fadtk's ``score_inf``): for n on ``steps`` sizes evenly spaced from
``min_n`` to N, draw n items with replacement, compute FAD_n, fit FAD_n = a + b / n by least squares
and report a. fadtk draws rows and is unseeded; here items are drawn (an item's rows together)
from the caller's generator. Its bootstrap repeats the whole procedure on each item resample.

Intervals are percentile intervals (Efron) of the R resampled values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 64  # resamples per batched step (bounds memory: CHUNK x D x D)


class IntervalError(ValueError):
    """Embedding sets that cannot be resampled; the message names which set."""


def bootstrap_counts(rng: np.random.Generator, n_items: int, n_resamples: int) -> np.ndarray:
    """[R, N] counts: row r is how often each item appears in resample r (N draws with replacement)."""
    if n_items < 1 or n_resamples < 1:
        raise IntervalError(f"cannot resample {n_items} items {n_resamples} times")
    picks = rng.integers(0, n_items, size=(n_resamples, n_items))
    flat = picks + n_items * np.arange(n_resamples)[:, None]
    return np.bincount(flat.ravel(), minlength=n_resamples * n_items).reshape(n_resamples, n_items)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """(low, high): the (1 - level)/2 and (1 + level)/2 quantiles of the finite values."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    low, high = np.quantile(values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(low), float(high)


def _items(name: str, items) -> list[np.ndarray]:
    arrays = [np.asarray(a, dtype=np.float64) for a in items]
    if not arrays:
        raise IntervalError(f"{name}: no items")
    for index, a in enumerate(arrays):
        if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] != arrays[0].shape[1]:
            raise IntervalError(f"{name}: item {index} has embeddings of shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise IntervalError(f"{name}: item {index} has NaN or infinite embeddings")
    return arrays


def _item_second_moments(arrays: list[np.ndarray]) -> np.ndarray:
    """[N, D*D]: sum_j y_j y_j^T of each item's rows (one batched product when all have as many rows)."""
    if len({a.shape[0] for a in arrays}) == 1:
        stacked = np.stack(arrays)
        return np.matmul(np.swapaxes(stacked, 1, 2), stacked).reshape(len(arrays), -1)
    return np.stack([(a.T @ a).ravel() for a in arrays])


def sym_sqrt(cov: np.ndarray) -> np.ndarray:
    """The symmetric positive semi-definite square root (eigenvalues below 0 by rounding clipped)."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


@dataclass
class FrechetResampler:
    """One set to resample against a fixed Gaussian (mean, covariance S_f, root B = S_f^(1/2)):
    per item the row count c_a, centred sums s_a, tr M_a, and the sums and second moments of the
    rows y = (x - centre) B. With them, for counts w (n = w.c, mu_c = w.s / n, mu_y = B mu_c):
        tr S = (w.tr M - n |mu_c|^2) / (n - 1),  B S B = (sum_a w_a M^y_a - n mu_y mu_y^T) / (n - 1),
    both linear in w: one product per resample batch, then one ``eigvalsh`` per resample."""

    rows: np.ndarray
    sums: np.ndarray
    traces: np.ndarray
    y_sums: np.ndarray
    y_second: np.ndarray
    centre: np.ndarray
    fixed_mean: np.ndarray
    fixed_trace: float

    @property
    def n_items(self) -> int:
        return int(self.rows.size)

    @property
    def dim(self) -> int:
        return int(self.centre.size)


def frechet_resampler(items, fixed_mean: np.ndarray, fixed_cov: np.ndarray, name: str = "eval set"):
    """Prepare ``items`` (a list of [c_a, D] arrays) to be resampled against the fixed Gaussian."""
    arrays = _items(name, items)
    fixed_mean = np.asarray(fixed_mean, dtype=np.float64)
    fixed_cov = np.asarray(fixed_cov, dtype=np.float64)
    if fixed_mean.shape != (arrays[0].shape[1],) or fixed_cov.shape != (fixed_mean.size, fixed_mean.size):
        raise IntervalError(
            f"{name}: {arrays[0].shape[1]}-d embeddings against a fixed Gaussian of mean {fixed_mean.shape}"
        )
    centre = np.concatenate(arrays).mean(axis=0)
    centred = [a - centre for a in arrays]
    root = sym_sqrt(fixed_cov)
    whitened = [a @ root for a in centred]
    return FrechetResampler(
        rows=np.array([a.shape[0] for a in arrays], dtype=np.float64),
        sums=np.stack([a.sum(axis=0) for a in centred]),
        traces=np.array([float((a * a).sum()) for a in centred]),
        y_sums=np.stack([a.sum(axis=0) for a in whitened]),
        y_second=_item_second_moments(whitened),
        centre=centre,
        fixed_mean=fixed_mean,
        fixed_trace=float(np.trace(fixed_cov)),
    )


def fad_resampled(resampler: FrechetResampler, counts: np.ndarray | None = None) -> np.ndarray:
    """FAD of each resample ``counts`` [R, N] against the fixed Gaussian (None: the whole set once):
    d^2 = |mu - mu_f|^2 + tr S + tr S_f - 2 sum_i sqrt(lambda_i(B S B))."""
    counts = np.ones((1, resampler.n_items)) if counts is None else np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[1] != resampler.n_items:
        raise IntervalError(f"counts of shape {counts.shape} for {resampler.n_items} items")
    n = counts @ resampler.rows
    if np.any(n < 2):
        raise IntervalError("a resample has fewer than 2 embeddings")
    d = resampler.dim
    out = np.empty(len(counts))
    for start in range(0, len(counts), CHUNK):
        w, k = counts[start : start + CHUNK], n[start : start + CHUNK]
        mean_c = (w @ resampler.sums) / k[:, None]
        mean_y = (w @ resampler.y_sums) / k[:, None]
        trace = (w @ resampler.traces - k * (mean_c * mean_c).sum(1)) / (k - 1)
        inner = (w @ resampler.y_second).reshape(-1, d, d) - k[:, None, None] * (
            mean_y[:, :, None] * mean_y[:, None, :]
        )
        inner /= (k - 1)[:, None, None]
        cross = np.sqrt(np.clip(np.linalg.eigvalsh(inner), 0.0, None)).sum(axis=1)
        diff = mean_c + resampler.centre - resampler.fixed_mean
        out[start : start + CHUNK] = (diff * diff).sum(1) + trace + resampler.fixed_trace - 2.0 * cross
    return np.maximum(out, 0.0)


def gaussian_kernel_block_sums(a_items, b_items, gamma: float) -> np.ndarray:
    """[N_a, N_b]: K_{ab} = sum over the rows j of item a and l of item b of exp(-gamma |x_j - y_l|^2)."""
    a, b = _items("first set", a_items), _items("second set", b_items)
    a_rows, b_rows = np.concatenate(a), np.concatenate(b)
    a_starts = np.cumsum([0] + [x.shape[0] for x in a[:-1]])
    b_starts = np.cumsum([0] + [x.shape[0] for x in b[:-1]])
    b_norms = (b_rows * b_rows).sum(1)
    out = np.empty((len(a), len(b)))
    step = max(1, 1024 // max(1, a_rows.shape[0] // len(a)))  # items per chunk (about 1024 rows)
    for first in range(0, len(a), step):
        last = min(first + step, len(a))
        lo = a_starts[first]
        hi = a_starts[last] if last < len(a) else a_rows.shape[0]
        block = a_rows[lo:hi]
        dist = np.maximum((block * block).sum(1)[:, None] + b_norms[None, :] - 2.0 * block @ b_rows.T, 0.0)
        kernel = np.add.reduceat(np.exp(-gamma * dist), b_starts, axis=1)
        out[first:last] = np.add.reduceat(kernel, a_starts[first:last] - lo, axis=0)
    return out


@dataclass
class KernelSums:
    """Item block sums of one eval set against a reference set (see the module docstring)."""

    xx: np.ndarray
    yy: np.ndarray
    xy: np.ndarray
    x_rows: np.ndarray
    y_rows: np.ndarray


def kernel_sums(eval_items, ref_items, bandwidth: float, ref_block: np.ndarray | None = None) -> KernelSums:
    """``ref_block``: K^{yy} when already computed (it is the same for every eval set)."""
    if not bandwidth > 0:
        raise IntervalError(f"KAD: kernel bandwidth {bandwidth} is not positive")
    gamma = 1.0 / (2.0 * bandwidth * bandwidth)
    x_rows = np.array([np.asarray(a).shape[0] for a in eval_items], dtype=np.float64)
    y_rows = np.array([np.asarray(a).shape[0] for a in ref_items], dtype=np.float64)
    yy = ref_block if ref_block is not None else gaussian_kernel_block_sums(ref_items, ref_items, gamma)
    return KernelSums(
        gaussian_kernel_block_sums(eval_items, eval_items, gamma),
        yy,
        gaussian_kernel_block_sums(eval_items, ref_items, gamma),
        x_rows,
        y_rows,
    )


def kad_resampled(
    sums: KernelSums,
    eval_counts: np.ndarray | None = None,
    ref_counts: np.ndarray | None = None,
    scale: float = 100.0,
) -> np.ndarray:
    """scale * unbiased MMD^2 of each resample (module docstring); None: the full set."""
    if eval_counts is None and ref_counts is None:
        eval_counts = np.ones((1, sums.x_rows.size))
    total = len(eval_counts) if eval_counts is not None else len(ref_counts)  # type: ignore[arg-type]
    w = np.ones((total, sums.x_rows.size)) if eval_counts is None else np.asarray(eval_counts, np.float64)
    v = np.ones((total, sums.y_rows.size)) if ref_counts is None else np.asarray(ref_counts, np.float64)
    m, n = w @ sums.x_rows, v @ sums.y_rows
    if np.any(m < 2) or np.any(n < 2):
        raise IntervalError("KAD: a resample has fewer than 2 embeddings")
    xx = (((w @ sums.xx) * w).sum(1) - m) / (m * (m - 1))
    yy = (((v @ sums.yy) * v).sum(1) - n) / (n * (n - 1))
    xy = ((w @ sums.xy) * v).sum(1) / (m * n)
    return scale * (xx + yy - 2.0 * xy)


def fad_inf_sizes(resampler: FrechetResampler, steps: int = 25, min_n: int | None = None) -> np.ndarray:
    """The item counts FAD-inf is evaluated at: ``steps`` sizes from ``min_n`` (default the larger of
    a tenth of the items and the fewest items with D + 2 rows) to N."""
    total = resampler.n_items
    per_item = float(resampler.rows.mean())
    lowest = min_n if min_n is not None else max(total // 10, int(np.ceil((resampler.dim + 2) / per_item)))
    if lowest >= total:
        raise IntervalError(f"FAD-inf: {total} items are too few (at least {lowest + 1} are needed)")
    return np.unique(np.linspace(lowest, total, steps).astype(int))


def _fit_lines(inv_n: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares a, b of values[r] = a + b inv_n for every row r (np.polyfit's line, batched)."""
    x = inv_n - inv_n.mean()
    slope = (values - values.mean(axis=1, keepdims=True)) @ x / (x @ x)
    return values.mean(axis=1) - slope * inv_n.mean(), slope


def fad_inf_resampled(
    resampler: FrechetResampler,
    rng: np.random.Generator,
    base_counts: np.ndarray | None = None,
    steps: int = 25,
    min_n: int | None = None,
) -> dict:
    """FAD-inf of the whole set (``base_counts`` None) or of each resample ``base_counts`` [R, N]:
    for every size n of :func:`fad_inf_sizes`, n items drawn with replacement (from the resample),
    FAD_n, then the least-squares fit FAD_n = a + b / n. Returns {"values": [R] intercepts a,
    "slopes": b, "r2", "sizes"}."""
    sizes = fad_inf_sizes(resampler, steps, min_n)
    total = resampler.n_items
    base = np.ones((1, total)) if base_counts is None else np.asarray(base_counts, np.float64)
    cumulative = np.cumsum(base / base.sum(axis=1, keepdims=True), axis=1)
    counts = np.zeros((base.shape[0], sizes.size, total))
    for k, n in enumerate(sizes):
        draws = rng.random((base.shape[0], int(n)))
        for r in range(base.shape[0]):
            picks = np.minimum(np.searchsorted(cumulative[r], draws[r], side="right"), total - 1)
            counts[r, k] = np.bincount(picks, minlength=total)
    values = fad_resampled(resampler, counts.reshape(-1, total)).reshape(base.shape[0], sizes.size)
    inv_n = 1.0 / sizes
    intercepts, slopes = _fit_lines(inv_n, values)
    fitted = intercepts[:, None] + slopes[:, None] * inv_n[None, :]
    spread = ((values - values.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    r2 = 1.0 - ((values - fitted) ** 2).sum(axis=1) / np.where(spread > 0, spread, 1.0)
    return {"values": intercepts, "slopes": slopes, "r2": r2, "sizes": sizes}
