"""
Build a term-pair hypernymy dataset from WordNet sub-hierarchies (`mft-wordnet-pairs`).

The construction is the one of the real data in `../shared/data/taxonomy` (see the section
"taxonomy/" of `../shared/data/README.md`), for any root synsets:

1. The sub-hierarchy of a root synset (e.g. `animal.n.01`) is the root and all its hyponym
   descendants, `root.closure(lambda s: s.hyponyms())`. Instance hyponyms (named entities
   such as individual ships) are left out unless `--include-instances` is given: no term of
   the real files comes from an instance-only synset.
2. A term is a synset's first lemma name with underscores as spaces (`water_snake.n.01` ->
   `water snake`).
3. Positives (label `1`) are the term pairs (descendant, ancestor) of the sub-hierarchy, the
   ancestor being any proper hypernym inside it (not only the direct one). They are sampled
   uniformly from all such pairs.
4. Negatives (label `0`) are balanced with the positives and are one third each of:
   - reversed: (ancestor, descendant), the reverse of a sampled positive;
   - siblings (co-hyponyms): two synsets with a common direct hypernym in the sub-hierarchy,
     neither an ancestor of the other. A parent is drawn uniformly, then an ordered pair of
     its children, which, like the real files, favours small families over drawing uniformly
     from all sibling pairs;
   - random: two random terms of the sub-hierarchy with no is-a relation in either direction.
   If a root has too few reversed or sibling candidates, random negatives make up the rest.
5. A pair whose two terms are equal (ignoring case) is never built, no pair occurs twice in a
   domain, and no negative is a positive pair of the domain under any synsets with those terms.
6. The pairs are split (disjoint, label-stratified, shuffled) and written as
   `<output>/<split>/<domain>.tsv`, one `hyponym<TAB>hypernym<TAB>label` line per pair, the
   format `mft_plugin.data.term_pairs.TermPairReader` reads.

Everything is drawn from `random.Random`, seeded by `--seed` and the root synset, so the same
arguments give byte-identical files, and a domain's files do not depend on the other roots.

Usage:

    mft-wordnet-pairs --roots ROOT [ROOT ...] --output DIR [options]
    python -m mft_plugin.commands.wordnet_pairs --roots ROOT [ROOT ...] --output DIR [options]

Options:

- `--roots ROOT [ROOT ...]` (required): root synsets, `animal.n.01` or `NAME=SYNSET`
  (`plant=plant.n.02`). The domain (file stem) is NAME, by default the synset's lemma
  (`animal.n.01` -> `animal`).
- `--output DIR` (required): where `<split>/<domain>.tsv` files are written.
- `--splits NAME=FRACTION,...`: split names and fractions of each domain's pairs, summing to 1
  (default `train=0.8,dev=0.1,test=0.1`, the paper's ratio).
- `--size N | DOMAIN=N ...`: total pairs per domain (half positives, half negatives), split by
  `--splits`. `DOMAIN=N` sets one domain; a bare `N` sets the others.
- `--split-sizes [DOMAIN:]NAME=N,...`: exact pairs per split, e.g.
  `train=8640,dev=1080,test=1080`; a `DOMAIN:` prefix sets one domain only. Replaces
  `--splits` and `--size`.
- `--positives N`: without `--size` / `--split-sizes`, the most positives per domain
  (default: all positive pairs of the sub-hierarchy; a smaller root gives all it has); the
  negatives match their number.
- `--seed N`: random seed (default 13).
- `--include-instances`: also descend into instance hyponyms (default: off).
- `--wordnet-dir DIR`: an NLTK data directory holding `corpora/wordnet` (or that corpus
  directory itself); by default NLTK's search path, i.e. `$NLTK_DATA` and its usual folders.

The real data's sizes are the paper's (Table 1: 80/10/10, train and dev kept here), not all
available pairs: e.g. animal has 10,800 pairs in all, about 5,400 of its 28,973 positive pairs.
To build data of those sizes:

    NLTK_DATA=../shared/data/wordnet mft-wordnet-pairs --output taxonomy \\
        --roots animal.n.01 plant=plant.n.02 vehicle.n.01 \\
        --size animal=10800 plant=7700 vehicle=1060

Exit codes: 0 on success, 2 for bad arguments (including an unknown synset), 1 when a root
has too few pairs for the requested sizes or the WordNet corpus cannot be found.
"""
import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, TypeVar

from mft_plugin.data.wordnet_pairs import (
    DEFAULT_SEED,
    DEFAULT_SPLITS,
    RootSpec,
    SizeRequest,
    WordNetPairsError,
    build_domain,
    load_wordnet,
    resolve_synset,
    write_splits,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

_NAME = r"[^\s/\\:=,.][^\s/\\:=,]*"


def parse_root(text: str) -> RootSpec:
    """`animal.n.01` (domain `animal`) or `NAME=SYNSET`."""
    name, sep, synset = text.partition("=")
    if not sep:
        name, synset = text.split(".")[0], text
    if not re.fullmatch(_NAME, name) or not synset:
        raise argparse.ArgumentTypeError(
            f"bad root {text!r}: expected SYNSET or NAME=SYNSET, e.g. plant=plant.n.02"
        )
    return RootSpec(name, synset)


def parse_fractions(text: str) -> Dict[str, float]:
    """`train=0.8,dev=0.1,test=0.1` -> split fractions summing to 1."""
    fractions = _parse_assignments(text, float)
    if any(f <= 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(
            f"bad split fractions {text!r}: they must be positive and sum to 1"
        )
    return fractions


def parse_split_sizes(text: str) -> Tuple[Optional[str], Dict[str, int]]:
    """`[DOMAIN:]train=8640,dev=1080,test=1080` -> (domain or None, counts)."""
    domain, sep, rest = text.rpartition(":")
    if sep and not re.fullmatch(_NAME, domain):
        raise argparse.ArgumentTypeError(f"bad split sizes {text!r}: bad domain name {domain!r}")
    sizes = _parse_assignments(rest, int)
    if any(size <= 0 for size in sizes.values()):
        raise argparse.ArgumentTypeError(f"bad split sizes {text!r}: sizes must be positive")
    return (domain or None), sizes


def parse_size(text: str) -> Tuple[Optional[str], int]:
    """`N` or `DOMAIN=N` -> (domain or None, total pairs)."""
    domain, sep, value = text.rpartition("=")
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 2 or (sep and not re.fullmatch(_NAME, domain)):
        raise argparse.ArgumentTypeError(f"bad size {text!r}: expected N or DOMAIN=N with N >= 2")
    return (domain or None), size


def _parse_assignments(text: str, convert: Callable[[str], T]) -> Dict[str, T]:
    """`a=1,b=2` -> {"a": convert("1"), "b": convert("2")}, names distinct."""
    assignments: Dict[str, T] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or not re.fullmatch(_NAME, name) or name in assignments:
            raise argparse.ArgumentTypeError(
                f"bad split list {text!r}: expected NAME=VALUE,... with distinct names"
            )
        try:
            assignments[name] = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad split list {text!r}: {value!r} is not a number")
    return assignments


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mft-wordnet-pairs",
        description="Build a term-pair hypernymy dataset (hyponym<TAB>hypernym<TAB>label) from WordNet "
        "sub-hierarchies, as ../shared/data/taxonomy was built: positives are (descendant, ancestor) "
        "pairs; negatives are a third reversed positives, a third co-hyponyms and a third random "
        "pairs without is-a. Writes OUTPUT/<split>/<domain>.tsv.",
        epilog="Example (the sizes of the real data): mft-wordnet-pairs --output taxonomy --roots animal.n.01 "
        "plant=plant.n.02 vehicle.n.01 --size animal=10800 plant=7700 vehicle=1060. Exit codes: 2 bad "
        "arguments or unknown synset, 1 too few pairs or no WordNet corpus.",
    )
    parser.add_argument(
        "--roots",
        nargs="+",
        required=True,
        type=parse_root,
        metavar="ROOT",
        help="root synsets, SYNSET (domain = its lemma: animal.n.01 -> animal) or NAME=SYNSET (plant=plant.n.02)",
    )
    parser.add_argument(
        "--output", type=Path, required=True, metavar="DIR", help="writes DIR/<split>/<domain>.tsv"
    )
    parser.add_argument(
        "--splits",
        type=parse_fractions,
        default=None,
        metavar="NAME=FRACTION,...",
        help=f"split names and fractions of each domain's pairs, summing to 1 (default {DEFAULT_SPLITS})",
    )
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument(
        "--size",
        nargs="+",
        type=parse_size,
        default=None,
        metavar="N|DOMAIN=N",
        help="total pairs per domain (half positives), split by --splits; DOMAIN=N sets one domain, "
        "a bare N the others (default: twice the positives, see --positives)",
    )
    sizes.add_argument(
        "--split-sizes",
        nargs="+",
        type=parse_split_sizes,
        default=None,
        metavar="[DOMAIN:]NAME=N,...",
        help="exact pairs per split, e.g. train=8640,dev=1080,test=1080 (half positives); a DOMAIN: "
        "prefix sets one domain only; replaces --splits and --size",
    )
    parser.add_argument(
        "--positives",
        type=positive_int,
        default=None,
        metavar="N",
        help="without --size/--split-sizes: at most N positives per domain, with as many "
        "negatives (default: all (descendant, ancestor) pairs of the sub-hierarchy)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--include-instances",
        action="store_true",
        help="also descend into instance hyponyms (default: off, as in the real data)",
    )
    parser.add_argument(
        "--wordnet-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="NLTK data directory holding corpora/wordnet, or the corpus directory itself "
        "(default: NLTK's search path, i.e. $NLTK_DATA)",
    )
    return parser


def size_requests(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> Dict[str, SizeRequest]:
    """One `SizeRequest` per domain from the size options; bad combinations are usage errors."""
    domains = [spec.domain for spec in args.roots]
    if len(set(domains)) != len(domains):
        parser.error(
            f"--roots: domain names must be distinct (got {', '.join(domains)}); use NAME=SYNSET"
        )
    if args.positives is not None and (args.size or args.split_sizes):
        parser.error("--positives applies only without --size and --split-sizes")
    if args.split_sizes and args.splits:
        parser.error("--split-sizes names the splits itself; leave out --splits")
    fractions = args.splits or parse_fractions(DEFAULT_SPLITS)
    totals = _per_domain(parser, "--size", args.size, domains)
    exact = _per_domain(parser, "--split-sizes", args.split_sizes, domains)
    return {
        domain: SizeRequest(fractions, totals.get(domain), exact.get(domain), args.positives)
        for domain in domains
    }


def _per_domain(
    parser: argparse.ArgumentParser, option: str, values, domains: Sequence[str]
) -> Dict[str, Any]:
    """Resolve `[(domain or None, value)]`: a domain's own value, else the bare (default) one."""
    if not values:
        return {}
    named: Dict[str, Any] = {}
    defaults = []
    for domain, value in values:
        if domain is None:
            defaults.append(value)
        elif domain not in domains:
            parser.error(f"{option}: {domain!r} is not a domain of --roots ({', '.join(domains)})")
        elif domain in named:
            parser.error(f"{option}: domain {domain!r} is given twice")
        else:
            named[domain] = value
    if len(defaults) > 1:
        parser.error(f"{option}: more than one value without a domain")
    missing = [d for d in domains if d not in named]
    if missing and not defaults:
        parser.error(
            f"{option}: no value for domain(s) {', '.join(missing)}; add DOMAIN values or a default"
        )
    return {d: named.get(d, defaults[0] if defaults else None) for d in domains}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    requests = size_requests(parser, args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        wordnet = load_wordnet(args.wordnet_dir)
        for spec in args.roots:  # every name checked before the slow part
            resolve_synset(wordnet, spec.synset_name)
        # Build every domain before writing any, so an error leaves no partial dataset.
        built = {
            spec.domain: build_domain(
                wordnet, spec, requests[spec.domain], args.seed, args.include_instances
            )
            for spec in args.roots
        }
    except WordNetPairsError as error:
        print(f"mft-wordnet-pairs: error: {error}", file=sys.stderr)
        return error.exit_code
    for domain, splits in built.items():
        for path in write_splits(args.output, domain, splits):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
