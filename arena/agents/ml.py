"""The ML agent: a logistic regression predicts P(up) from price features, refit
walk-forward on the past only.

Schedule. Features (:mod:`arena.agents.features`) are defined from bar
``FIRST_FULL_ROW``; a sample is a bar ``i`` with its features and its label "did
the close rise over the next bar", known at the close of bar ``i + 1``. The first
model is fit at bar ``r0 = FIRST_FULL_ROW + min_train``, then again every
``retrain_every`` bars. A model fit at bar ``r`` learns from bars
``max(FIRST_FULL_ROW, r - train_window) .. r - 1`` of every symbol (one pooled
model), whose labels are all known at ``r``'s close, and is used for bars
``r .. r + retrain_every - 1``. Decisions at bar ``t`` therefore use nothing after
``t``.

Targets. P(up) above ``0.5 + threshold`` → long ``weight / n_symbols``; below
``0.5 - threshold`` → flat (short if ``short``); in between → no change. The
comparison is made on the log-odds, computed element by element so that the
per-bar :meth:`MLAgent.decide` and the all-bars :meth:`MLAgent.signals` agree bit
for bit.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from dataclasses import dataclass

import numpy as np
import param

from arena.agents.base import Agent, Decision, Observation
from arena.agents.features import FEATURES, FIRST_FULL_ROW, features, up_labels
from arena.agents.registry import register
from arena.agents.rules import decision_from_row, side_text
from arena.data.market import MarketData

__all__ = ["FittedModel", "MLAgent", "fit_model"]

_F = len(FEATURES)
_import_lock = threading.Lock()
_import_started = False


def _import_sklearn_soon() -> None:
    """Start importing scikit-learn in a background thread, once per process.

    The import takes about a second on an idle machine (far more on a busy one).
    ``arena`` does not import it up front; an ``ml`` agent starts it when it is
    created (e.g. when the dashboard builds its competition), so that the first fit,
    when the run starts, does not wait for it.
    """
    global _import_started
    with _import_lock:
        if _import_started:
            return
        _import_started = True
    threading.Thread(target=_import_sklearn, name="arena-ml-import", daemon=True).start()


def _import_sklearn() -> None:
    with contextlib.suppress(Exception):  # fit_model imports it again and reports any error
        import sklearn.linear_model  # noqa: F401


@dataclass(frozen=True, eq=False)
class FittedModel:
    """A fitted logistic regression, reduced to what prediction needs.

    ``log-odds(x) = intercept + Σ_f coef_f · (x_f − mean_f) / scale_f``; the terms
    of that sum are each feature's contribution (positive raises P(up)).
    """

    fit_bar: int  # the bar at whose close the model was fit, the first bar it serves
    first: int  # first training bar; samples are bars first .. fit_bar - 1
    n_samples: int
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    constant: bool = False  # every training label was the same: no regression fit

    def terms(self, x: np.ndarray) -> np.ndarray:
        """Each feature's contribution to the log-odds, shape ``(m, n_features)``."""
        return (x - self.mean) / self.scale * self.coef

    def logit(self, terms: np.ndarray) -> np.ndarray:
        """Log-odds of up from :meth:`terms`, summed element by element (the result for
        a row does not depend on how many rows are computed together)."""
        z = np.full(len(terms), self.intercept)
        for f in range(terms.shape[1]):
            z = z + terms[:, f]
        return z


def fit_model(x: np.ndarray, y: np.ndarray, c: float, seed: int, fit_bar: int,
              first: int) -> FittedModel:
    """Fit scikit-learn's logistic regression to samples ``x`` (m, F) with labels ``y`` (m,),
    the features standardised with the samples' mean and deviation.

    Rows with a missing feature are left out. If every label is the same the model
    is a constant: P(up) = (ups + 1) / (samples + 2).
    """
    keep = np.isfinite(x).all(axis=1) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n, ups = len(y), int(y.sum())
    if ups in (0, n):
        p = (ups + 1) / (n + 2)
        return FittedModel(fit_bar, first, n, np.zeros(x.shape[1]), np.ones(x.shape[1]),
                           np.zeros(x.shape[1]), math.log(p / (1 - p)), constant=True)
    import sklearn  # imported on first use: a slow import
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)  # as StandardScaler: constant columns scale 1
    scale[scale == 0.0] = 1.0
    model = LogisticRegression(C=c, solver="liblinear", random_state=seed)
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        model.fit((x - mean) / scale, y)  # inputs are checked above; skip sklearn's checks
    return FittedModel(fit_bar, first, n, mean, scale, model.coef_[0].copy(),
                       float(model.intercept_[0]))


@dataclass(frozen=True, eq=False)
class _Run:
    """Everything computed over one data set: features, per-bar terms, log-odds, models."""

    x: np.ndarray  # (n, k, F) features
    terms: np.ndarray  # (n, k, F) contributions, NaN before the first model
    z: np.ndarray  # (n, k) log-odds of up
    model_of: np.ndarray  # (n,) index into models, -1 before the first model
    models: list


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _when(t) -> str:
    s = np.datetime_as_string(np.datetime64(t, "m"))
    return s[:10] if s.endswith("T00:00") else s.replace("T", " ")


@register("ml")
class MLAgent(Agent):
    """Logistic regression on returns, z-score, RSI, MACD and volatility; refit walk-forward.

    See the module docstring for the schedule; :meth:`explain` gives P(up) per symbol,
    the model's training window and the two features that moved P(up) most.
    """

    description = ("Logistic regression on returns, RSI, MACD and volatility predicts P(up); "
                   "refit every N bars on past bars only.")

    retrain_every = param.Integer(20, bounds=(1, None), doc="Bars between two fits of the model.")
    min_train = param.Integer(250, bounds=(20, None),
                              doc="Bars of samples (per symbol) needed before the first fit.")
    train_window = param.Integer(500, bounds=(20, None),
                                 doc="Most recent bars (per symbol) each fit learns from.")
    C = param.Number(1.0, bounds=(0.0, None), inclusive_bounds=(False, True),
                     doc="Inverse regularisation strength (scikit-learn's C); smaller is simpler.")
    threshold = param.Number(0.02, bounds=(0.0, 0.49),
                             doc="Go long above P(up) 0.5 + threshold, out below 0.5 − threshold.")
    short = param.Boolean(False, doc="Go short below 0.5 − threshold instead of flat.")
    weight = param.Number(1.0, bounds=(0.0, 1.0),
                          doc="Gross weight when fully invested, split equally across the symbols.")

    def __init__(self, **params):
        super().__init__(**params)
        self._check()
        self._seed = 0
        self._forget()
        self.param.watch(self._params_changed, [k for k in self.param if k != "name"])
        _import_sklearn_soon()

    def _params_changed(self, *events) -> None:
        self._forget()

    def _forget(self) -> None:
        self._models: dict[int, tuple[bytes, FittedModel]] = {}  # decide's fits by fit bar
        self._run_of: tuple[MarketData, _Run] | None = None  # signals/explain, by data set

    def _check(self) -> None:
        if self.train_window < self.min_train:
            raise ValueError(f"ml: train_window ({self.train_window}) must be at least "
                             f"min_train ({self.min_train})")

    def reset(self, data: MarketData, seed: int) -> None:
        """Ready for a new run. The fitted models stay when the seed is the same (they
        depend only on the data, the parameters and the seed), so a Reset then Start
        on the dashboard does not refit them all."""
        self._check()
        if int(seed) != self._seed:
            self._seed = int(seed)
            self._forget()

    # -- schedule ------------------------------------------------------------------
    @property
    def first_fit(self) -> int:
        """The bar at whose close the first model is fit."""
        return FIRST_FULL_ROW + self.min_train

    def fit_bar(self, t: int) -> int | None:
        """The fit bar of the model used at bar ``t`` (None while warming up)."""
        r0 = self.first_fit
        if t < r0:
            return None
        return r0 + (t - r0) // self.retrain_every * self.retrain_every

    def _fit(self, x: np.ndarray, up: np.ndarray, r: int) -> FittedModel:
        lo = max(FIRST_FULL_ROW, r - self.train_window)
        return fit_model(x[lo:r].reshape(-1, _F), up[lo:r].reshape(-1), self.C, self._seed, r, lo)

    # -- all bars ------------------------------------------------------------------
    def _run(self, data: MarketData) -> _Run:
        """Fit every model of the schedule on ``data`` and predict its bars (cached per data set)."""
        if self._run_of is not None and self._run_of[0] is data:
            return self._run_of[1]
        close = np.asarray(data.close)
        n, k = close.shape
        x, up = features(close), up_labels(close)
        terms = np.full((n, k, _F), np.nan)
        z = np.full((n, k), np.nan)
        model_of = np.full(n, -1)
        models = []
        step = self.retrain_every
        for r in range(self.first_fit, n, step):
            m = self._fit(x, up, r)
            tm = m.terms(x[r:r + step].reshape(-1, _F))
            terms[r:r + step] = tm.reshape(-1, k, _F)
            z[r:r + step] = m.logit(tm).reshape(-1, k)
            model_of[r:r + step] = len(models)
            models.append(m)
        run = _Run(x, terms, z, model_of, models)
        self._run_of = (data, run)
        return run

    def _targets(self, z: np.ndarray, k: int) -> np.ndarray:
        hi = math.log((0.5 + self.threshold) / (0.5 - self.threshold))
        w = self.weight / k
        out = np.full(z.shape, np.nan)
        out[z > hi] = w
        out[z < -hi] = -w if self.short else 0.0
        return out

    def signals(self, data: MarketData) -> np.ndarray:
        return self._targets(self._run(data).z, data.n_symbols)

    def explain(self, data: MarketData, t: int) -> str:
        run = self._run(data)
        i = run.model_of[t]
        if i < 0:
            return self._warming(t)
        return self._text(data.symbols, data.times, run.models[i], t, run.z[t], run.terms[t],
                          run.x[t])

    # -- one bar -------------------------------------------------------------------
    def decide(self, obs: Observation) -> Decision:
        hist = obs.history
        t = len(hist) - 1
        r = self.fit_bar(t)
        if r is None:
            return Decision.hold(self._warming(t))
        close = hist.close
        x = features(close)
        m = self._model_at(close, x, r)
        tm = m.terms(x[t])
        z = m.logit(tm)
        targets = self._targets(z, len(obs.symbols))
        return decision_from_row(obs.symbols, targets,
                                 self._text(obs.symbols, hist.times, m, t, z, tm, x[t]))

    def _model_at(self, close: np.ndarray, x: np.ndarray, r: int) -> FittedModel:
        """The model fit at bar ``r`` of this history: remembered if the closes up to
        ``r`` are the ones it was fit on, else fit now."""
        key = hashlib.blake2b(np.ascontiguousarray(close[:r + 1]).tobytes(), digest_size=16).digest()
        hit = self._models.get(r)
        if hit is not None and hit[0] == key:
            return hit[1]
        m = self._fit(x, up_labels(close[:r + 1]), r)
        self._models[r] = (key, m)
        return m

    # -- reasoning -----------------------------------------------------------------
    def _warming(self, t: int) -> str:
        return (f"warming up: the first model needs {self.first_fit + 1:,} bars "
                f"({FIRST_FULL_ROW + 1} for the indicators, {self.min_train} to learn from), "
                f"have {t + 1:,}")

    def _text(self, symbols, times, m: FittedModel, t: int, z, terms, x) -> str:
        hi = 0.5 + self.threshold
        lo = 0.5 - self.threshold
        w = self.weight / len(symbols)
        how = (f"constant model (every training label was {'up' if m.intercept > 0 else 'down'})"
               if m.constant else "logistic regression")
        head = (f"{how} fit {_when(times[m.fit_bar])} on {m.n_samples:,} samples "
                f"({_when(times[m.first])}..{_when(times[m.fit_bar - 1])}), "
                f"refit every {self.retrain_every} bars")
        hz = math.log(hi / lo)
        parts = []
        for j, sym in enumerate(symbols):
            zj = float(z[j])
            p = _sigmoid(zj)
            if zj > hz:
                act = f"> {hi:.3g} → {side_text(w)}"
            elif zj < -hz:
                act = f"< {lo:.3g} → {side_text(-w if self.short else 0.0)}"
            else:
                act = f"within {lo:.3g}..{hi:.3g}, no change"
            parts.append(f"{sym} P(up) {p:.3f} {act}{self._drivers(terms[j], x[j], m)}")
        return head + ": " + "; ".join(parts)

    @staticmethod
    def _drivers(terms, x, m: FittedModel) -> str:
        """The two features that moved P(up) most at this bar (↑ raised it, ↓ lowered it)."""
        if m.constant:
            return ""
        order = sorted(range(_F), key=lambda f: (-abs(float(terms[f])), f))[:2]
        shown = [f"{FEATURES[f].show(x[f])} {'↑' if terms[f] > 0 else '↓'}" for f in order
                 if terms[f] != 0]
        return f" ({', '.join(shown)})" if shown else ""
