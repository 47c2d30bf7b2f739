"""Face matching on synthetic templates: false match / false non-match rates, and match time.

    .venv/bin/python benchmarks/bench_faces.py [--trials 2000] [--dim 128] [--threshold 0.6]

Templates are synthetic (no face model here): each enrolled person is a random unit vector;
a genuine probe is the enrolled vector plus Gaussian noise (per-component sigma, three
levels giving mean genuine cosine ~0.87, ~0.70, ~0.60); an impostor probe is another
person's vector (not enrolled) with the same noise. Two populations:
  isotropic   persons are independent Gaussian directions (impostor cosine ~ N(0, 1/sqrt(d)))
  correlated  every person shares a common component (impostor cosine ~0.3 on average),
              closer to real embeddings, which are not isotropic.
Per gallery size N (10, 100, 1,000), with the production matcher (ticketing.faces.match):
  FNMR = genuine probes not admitted as themselves (no match, ambiguous, or someone else)
  FMR  = impostor probes admitted as anybody
  amb  = genuine probes refused as face_ambiguous (part of FNMR)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ticketing.checkin_errors import FaceAmbiguous, NoFaceMatch
from ticketing.faces import Gallery, match, normalise


def people(rng: np.random.Generator, n: int, dim: int, population: str) -> np.ndarray:
    v = rng.standard_normal((n, dim))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    if population == "correlated":
        common = np.ones(dim) / np.sqrt(dim)
        v = 0.55 * common + 0.835 * v          # E[cos] between two persons ~0.3
        v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def noisy(rng: np.random.Generator, v: np.ndarray, sigma: float, dim: int) -> np.ndarray:
    return normalise(v + rng.normal(0, sigma, dim), dim)


def rates(n: int, dim: int, sigma: float, threshold: float, trials: int, population: str,
          seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    fnm = amb = fm = 0
    cos_gen: list[float] = []
    per_gallery = max(1, trials // 50)             # fresh galleries, several probes each
    done = 0
    while done < trials:
        persons = people(rng, n + per_gallery, dim, population)
        enrolled, strangers = persons[:n], persons[n:]
        gallery = Gallery.of([(str(i), normalise(v, dim)) for i, v in enumerate(enrolled)], dim)
        for k in range(min(per_gallery, trials - done)):
            who = int(rng.integers(n))
            probe = noisy(rng, enrolled[who], sigma, dim)
            cos_gen.append(float(probe @ gallery.matrix[who]))
            try:
                got, _ = match(gallery, probe, threshold)
                fnm += got != str(who)
            except FaceAmbiguous:
                fnm += 1
                amb += 1
            except NoFaceMatch:
                fnm += 1
            try:
                match(gallery, noisy(rng, strangers[k], sigma, dim), threshold)
                fm += 1
            except FaceAmbiguous:
                fm += 1            # refused, but two strangers' faces passed the threshold
            except NoFaceMatch:
                pass
            done += 1
    return {"fnmr": fnm / trials, "fmr": fm / trials, "amb": amb / trials,
            "cos": float(np.mean(cos_gen))}


def match_time(n: int, dim: int, reps: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(1)
    enrolled = people(rng, n, dim, "isotropic")
    gallery = Gallery.of([(str(i), normalise(v, dim)) for i, v in enumerate(enrolled)], dim)
    probes = [noisy(rng, enrolled[i % n], 0.05, dim) for i in range(reps)]
    ts = []
    for p in probes:
        t = time.perf_counter()
        match(gallery, p, 0.6)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e6, float(np.percentile(ts, 99)) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--threshold", type=float, default=0.6)
    a = ap.parse_args()
    print(f"threshold {a.threshold}, dimension {a.dim}, {a.trials} genuine + {a.trials} impostor probes per cell\n")
    print("| population | noise sigma | mean genuine cos | gallery | FNMR | of which ambiguous | FMR |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for population in ("isotropic", "correlated"):
        for sigma in (0.05, 0.09, 0.12):
            for n in (10, 100, 1000):
                r = rates(n, a.dim, sigma, a.threshold, a.trials, population, seed=n)
                print(f"| {population} | {sigma} | {r['cos']:.2f} | {n} | {r['fnmr']:.2%} | "
                      f"{r['amb']:.2%} | {r['fmr']:.2%} |", flush=True)
    print("\n| gallery | match median (µs) | match p99 (µs) |")
    print("| --- | --- | --- |")
    for n in (100, 1000):
        med, p99 = match_time(n, a.dim)
        print(f"| {n} | {med:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
