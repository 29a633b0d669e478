"""How fast augmentation is: N sentences x R rounds, tagging and augmenting timed apart, twice.

    python benchmarks/augment_speed.py --sentences 10000 --rounds 20

The sentences are the first N of movie-sentiment's train, dev and test splits (10,605 in all).
The second run repeats the first with the same seed and must give the same transfer set
(reproducibility); a third run with another seed must not. Writes ``results/augment_speed.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import header_markdown, run_record
from textdistill.data.augment import AugmentParams, augment, load_tagger
from textdistill.data.load import load_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tagger", default="en-core-web-sm")
    ap.add_argument("--results", default="results/augment_speed")
    args = ap.parse_args()
    record = run_record()
    task = load_task("movie-sentiment")
    examples = [e for split in ("train", "dev", "test") for e in task.splits[split]][: args.sentences]
    started = time.perf_counter()
    tagger = load_tagger(args.tagger)
    load_seconds = time.perf_counter() - started
    runs = []
    for seed in (args.seed, args.seed, args.seed + 1):
        started = time.perf_counter()
        out = augment(examples, AugmentParams(rounds=args.rounds, seed=seed), tagger)
        runs.append((time.perf_counter() - started, out))
    (total, first), (_, again), (_, other) = runs
    stats = dict(first.stats)
    result = {
        "run": record,
        "sentences": len(examples),
        "words": sum(len(e.text.split()) for e in examples),
        "rounds": args.rounds,
        "tagger": stats["tagger"],
        "tagger_load_seconds": round(load_seconds, 2),
        "total_seconds": round(total, 2),
        "tag_seconds": stats["tag_seconds"],
        "augment_seconds": stats["augment_seconds"],
        "generated_per_second": round(stats["generated"] / total),
        "same_seed_identical": first.examples == again.examples,
        "other_seed_differs": first.examples != other.examples,
        "stats": stats,
    }
    out_path = Path(args.results)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    s = stats
    lines = [
        "# Augmentation speed\n",
        header_markdown(record),
        f"- {len(examples):,} movie-sentiment sentences ({result['words']:,} words) x {args.rounds} rounds, "
        f"seed {args.seed}, paper defaults (p_mask = p_pos = 0.1, p_ng = 0.25), tagger {s['tagger']}\n",
        "| measure | value |",
        "|---|---|",
        f"| total (tagging + augmenting) | {total:.1f} s (target: under 120 s) |",
        f"| tagging (spaCy, once per sentence) | {s['tag_seconds']:.1f} s |",
        f"| augmenting ({args.rounds} rounds) | {s['augment_seconds']:.1f} s |",
        f"| loading the tagger | {load_seconds:.1f} s |",
        f"| generated / kept | {s['generated']:,} / {s['kept']:,} |",
        f"| dropped: same as source / duplicates / empty | {s['same_as_source']:,} / {s['duplicates']:,} "
        f"/ {s['empty']:,} |",
        f"| observed rates: mask / POS replacement / n-gram | {s['mask_rate']} / {s['replace_rate']} "
        f"/ {s['ngram_rate']} |",
        f"| same seed twice gives the same set | {result['same_seed_identical']} |",
        f"| another seed gives another set | {result['other_seed_differs']} |",
    ]
    out_path.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(out_path.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
