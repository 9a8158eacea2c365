"""
The WordNet term-pair dataset builder behind `mft-wordnet-pairs`
(mft_plugin/commands/wordnet_pairs.py, whose docstring and docs/data.md describe the
construction): sub-hierarchies of root synsets, positive pairs, reversed, sibling and random
negatives, and splits of the requested sizes.
"""
import logging
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    FrozenSet,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
)

logger = logging.getLogger(__name__)

Pair = Tuple[str, str]
T = TypeVar("T")
Synset = Any  # nltk.corpus.reader.wordnet.Synset

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

DEFAULT_SEED = 13
DEFAULT_SPLITS = "train=0.8,dev=0.1,test=0.1"
NEGATIVE_KINDS = ("reversed", "sibling", "random")
# Draws that may fail in a row before a sampler falls back to enumerating every candidate.
MAX_FAILED_DRAWS = 2000
NLTK_DATA_HINT = (
    "Point NLTK at it with the environment variable NLTK_DATA (e.g. "
    "`NLTK_DATA=../shared/data/wordnet`) or with --wordnet-dir, or download it with "
    "`python -m nltk.downloader wordnet`."
)


class WordNetPairsError(Exception):
    """A dataset that cannot be built; `exit_code` is what `main` returns for it."""

    exit_code = 1


class UnknownSynsetError(WordNetPairsError):
    exit_code = 2


class TooFewPairsError(WordNetPairsError):
    pass


class WordNetNotFoundError(WordNetPairsError):
    pass


class LabelledPair(NamedTuple):
    hyponym: str
    hypernym: str
    label: int
    kind: str  # "positive" or one of NEGATIVE_KINDS; not written, kept for checks and logs


@dataclass(frozen=True)
class RootSpec:
    domain: str
    synset_name: str


@dataclass(frozen=True)
class SubHierarchy:
    root: Synset
    synsets: Tuple[Synset, ...]  # sorted by name, so every draw is reproducible
    ancestors: Mapping[Synset, FrozenSet[Synset]]  # proper ancestors inside the sub-hierarchy
    children: Mapping[Synset, Tuple[Synset, ...]]  # direct hyponyms, sorted by name


@dataclass(frozen=True)
class SizeRequest:
    """How many pairs a domain gets: exact per-split counts, or a total split by fractions."""

    fractions: Mapping[str, float]
    total: Optional[int] = None
    split_sizes: Optional[Mapping[str, int]] = None
    positives: Optional[int] = None


# ---------------------------------------------------------------------------------------------
# WordNet


def load_wordnet(wordnet_dir: Optional[Path] = None) -> "WordNetCorpusReader":
    """The WordNet corpus reader, from `wordnet_dir` or NLTK's search path (`$NLTK_DATA`)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    try:
        if wordnet_dir is None:
            root = nltk.data.find("corpora/wordnet")
        else:
            wordnet_dir = Path(wordnet_dir).resolve()
            # NLTK (3.9+) refuses to read corpora outside nltk.data.path, so the folder given
            # is added there, as NLTK's own error message recommends.
            if str(wordnet_dir) not in nltk.data.path:
                nltk.data.path.insert(0, str(wordnet_dir))
            if (wordnet_dir / "data.noun").is_file():  # the corpus folder itself
                root = nltk.data.FileSystemPathPointer(str(wordnet_dir))
            else:
                root = nltk.data.find("corpora/wordnet", paths=[str(wordnet_dir)])
    except LookupError:
        where = f"in {wordnet_dir}" if wordnet_dir else f"on NLTK's path {nltk.data.path}"
        raise WordNetNotFoundError(
            f"WordNet corpus (corpora/wordnet) not found {where}. {NLTK_DATA_HINT}"
        )
    with warnings.catch_warnings():
        # Only English is needed, so the multilingual (OMW) reader is left out on purpose.
        warnings.filterwarnings("ignore", message="The multilingual functions")
        return WordNetCorpusReader(root, None)


def resolve_synset(wordnet: "WordNetCorpusReader", name: str) -> Synset:
    """The synset called `name` (`animal.n.01`), or an error naming it."""
    from nltk.corpus.reader.wordnet import WordNetError

    try:
        return wordnet.synset(name)
    except WordNetError as error:  # a well-formed name that WordNet lacks
        raise UnknownSynsetError(f"unknown WordNet synset {name!r}: {error}") from error
    except (ValueError, AttributeError) as error:  # not of the form lemma.pos.number
        raise UnknownSynsetError(
            f"unknown WordNet synset {name!r}: expected a name of the form lemma.pos.number, e.g. animal.n.01"
        ) from error


def term_of(synset: Synset) -> str:
    """A synset's term: its first lemma name, underscores as spaces."""
    return synset.lemmas()[0].name().replace("_", " ")


def same_term(first: str, second: str) -> bool:
    # Ignoring case too: an uncased encoder would see such a pair as one term twice.
    return first.casefold() == second.casefold()


# ---------------------------------------------------------------------------------------------
# Step 1: the sub-hierarchy


def collect_subhierarchy(root: Synset, include_instances: bool = False) -> SubHierarchy:
    """The root and its hyponym descendants, with in-domain ancestors and children."""
    down, up = _relations(include_instances)
    members = {root, *root.closure(down)}
    synsets = tuple(sorted(members, key=lambda s: s.name()))
    # Hypernym paths that leave the sub-hierarchy never come back into it, so intersecting
    # the full closure with the members gives exactly the in-domain ancestors.
    ancestors = {s: frozenset(a for a in s.closure(up) if a in members) for s in synsets}
    children = {s: tuple(sorted(down(s), key=lambda c: c.name())) for s in synsets}
    return SubHierarchy(root, synsets, ancestors, children)


def _relations(include_instances: bool) -> Tuple[Callable, Callable]:
    if include_instances:
        return (
            lambda s: s.hyponyms() + s.instance_hyponyms(),
            lambda s: s.hypernyms() + s.instance_hypernyms(),
        )
    return (lambda s: s.hyponyms(), lambda s: s.hypernyms())


def domain_terms(hierarchy: SubHierarchy) -> List[str]:
    return sorted({term_of(s) for s in hierarchy.synsets})


# ---------------------------------------------------------------------------------------------
# Step 2: positives


def build_positive_pool(hierarchy: SubHierarchy) -> List[Pair]:
    """Every (descendant, ancestor) term pair of the sub-hierarchy, sorted."""
    pool = set()
    for synset in hierarchy.synsets:
        hyponym = term_of(synset)
        for ancestor in hierarchy.ancestors[synset]:
            hypernym = term_of(ancestor)
            if not same_term(hyponym, hypernym):
                pool.add((hyponym, hypernym))
    return sorted(pool)


def sample_positives(pool: Sequence[Pair], count: int, rng: random.Random) -> List[Pair]:
    return rng.sample(list(pool), count)


def is_related(pair: Pair, is_a: Set[Pair]) -> bool:
    """Whether the terms are in an is-a relation in either direction."""
    return pair in is_a or (pair[1], pair[0]) in is_a


# ---------------------------------------------------------------------------------------------
# Step 3: negatives, one function per kind. Each adds what it returns to `used`.


def reversed_negatives(
    positives: Sequence[Pair], is_a: Set[Pair], count: int, used: Set[Pair], rng: random.Random
) -> List[Pair]:
    """(ancestor, descendant) pairs: sampled positives turned round."""
    candidates = [(b, a) for a, b in positives]
    rng.shuffle(candidates)
    # A reverse can itself be is-a when two synsets share a term, e.g. at two levels.
    chosen = [pair for pair in candidates if pair not in is_a and pair not in used][:count]
    used.update(chosen)
    return chosen


def sibling_negatives(
    hierarchy: SubHierarchy, is_a: Set[Pair], count: int, used: Set[Pair], rng: random.Random
) -> List[Pair]:
    """Co-hyponyms: an ordered pair of children of one parent, neither an ancestor of the other."""
    parents = [p for p in hierarchy.synsets if len(hierarchy.children[p]) >= 2]

    def draw() -> Optional[Pair]:
        first, second = rng.sample(hierarchy.children[rng.choice(parents)], 2)
        return _sibling_pair(hierarchy, first, second, is_a)

    def enumerate_all() -> List[Pair]:
        pairs = {
            _sibling_pair(hierarchy, first, second, is_a)
            for parent in parents
            for first in hierarchy.children[parent]
            for second in hierarchy.children[parent]
            if first != second
        }
        return sorted(pair for pair in pairs if pair is not None)

    if not parents:
        return []
    return _draw_unique(draw, enumerate_all, count, used, rng)


def _sibling_pair(
    hierarchy: SubHierarchy, first: Synset, second: Synset, is_a: Set[Pair]
) -> Optional[Pair]:
    if first in hierarchy.ancestors[second] or second in hierarchy.ancestors[first]:
        return None  # multiple inheritance: a sibling can also be a descendant
    pair = (term_of(first), term_of(second))
    if same_term(*pair) or is_related(pair, is_a):
        return None
    return pair


def random_negatives(
    terms: Sequence[str], is_a: Set[Pair], count: int, used: Set[Pair], rng: random.Random
) -> List[Pair]:
    """Two random terms of the domain with no is-a relation in either direction."""

    def draw() -> Optional[Pair]:
        first, second = rng.sample(terms, 2)
        pair = (first, second)
        return None if same_term(*pair) or is_related(pair, is_a) else pair

    def enumerate_all() -> List[Pair]:
        return [
            (a, b)
            for a in terms
            for b in terms
            if not same_term(a, b) and not is_related((a, b), is_a)
        ]

    if len(terms) < 2:
        return []
    return _draw_unique(draw, enumerate_all, count, used, rng)


def _draw_unique(
    draw: Callable[[], Optional[Pair]],
    enumerate_all: Callable[[], List[Pair]],
    count: int,
    used: Set[Pair],
    rng: random.Random,
) -> List[Pair]:
    """
    `count` new pairs from `draw` (None: invalid draw). Drawing is fast and keeps the
    sampling scheme; once draws keep failing the pool is nearly used up, so the rest comes
    from all remaining candidates, which also tells exactly when there are too few.
    """
    chosen: List[Pair] = []
    failures = 0
    while len(chosen) < count and failures < MAX_FAILED_DRAWS:
        pair = draw()
        if pair is None or pair in used:
            failures += 1
            continue
        failures = 0
        used.add(pair)
        chosen.append(pair)
    if len(chosen) < count:
        remaining = [pair for pair in enumerate_all() if pair not in used]
        rng.shuffle(remaining)
        extra = remaining[: count - len(chosen)]
        used.update(extra)
        chosen.extend(extra)
    return chosen


def build_negatives(
    hierarchy: SubHierarchy,
    positives: Sequence[Pair],
    is_a: Set[Pair],
    count: int,
    rng: random.Random,
) -> Dict[str, List[Pair]]:
    """`count` negatives, a third of each kind; random ones make up for missing others."""
    used = set(positives)
    quotas = dict(zip(NEGATIVE_KINDS, allocate(count, [1, 1, 1])))
    negatives = {
        "reversed": reversed_negatives(positives, is_a, quotas["reversed"], used, rng),
        "sibling": sibling_negatives(hierarchy, is_a, quotas["sibling"], used, rng),
    }
    shortfall = sum(quotas[kind] - len(negatives[kind]) for kind in negatives)
    if shortfall:
        logger.warning(
            "%s: %d reversed/sibling negatives missing; using random ones instead",
            hierarchy.root.name(),
            shortfall,
        )
    wanted_random = quotas["random"] + shortfall
    negatives["random"] = random_negatives(domain_terms(hierarchy), is_a, wanted_random, used, rng)
    built = sum(len(pairs) for pairs in negatives.values())
    if built < count:
        raise TooFewPairsError(
            f"{hierarchy.root.name()} has too few descendants for {count} negative pairs "
            f"(only {built} can be built); ask for fewer pairs (--size, --split-sizes, --positives)"
        )
    return negatives


# ---------------------------------------------------------------------------------------------
# Step 4: sizes and splits


def allocate(total: int, weights: Sequence[float]) -> List[int]:
    """Split `total` in proportion to `weights` (largest remainder; ties go to the first)."""
    weight_sum = float(sum(weights))
    exact = [total * w / weight_sum for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def plan_split_sizes(request: SizeRequest, available_positives: int) -> Tuple[Dict[str, int], int]:
    """Pairs per split and the number of positives among them (about half)."""
    if request.split_sizes is not None:
        sizes = dict(request.split_sizes)
        total = sum(sizes.values())
        positives = total - total // 2
    else:
        if request.total is not None:
            total = request.total
            positives = total - total // 2
        else:
            # --positives is a cap: a small root simply gives all it has.
            positives = min(available_positives, request.positives or available_positives)
            total = 2 * positives
        sizes = dict(zip(request.fractions, allocate(total, list(request.fractions.values()))))
    return sizes, positives


def split_pairs(
    positives: Sequence[Pair],
    negatives: Mapping[str, Sequence[Pair]],
    sizes: Mapping[str, int],
    rng: random.Random,
) -> Dict[str, List[LabelledPair]]:
    """Disjoint splits of the given sizes, each with the overall label (and negative kind) mix."""
    names = list(sizes)
    positive_counts = allocate(len(positives), [sizes[name] for name in names])
    positive_rows = [LabelledPair(a, b, 1, "positive") for a, b in positives]
    negative_rows = _interleave_kinds(negatives)
    splits: Dict[str, List[LabelledPair]] = {}
    pos_start = neg_start = 0
    for name, n_pos in zip(names, positive_counts):
        n_neg = sizes[name] - n_pos
        rows = (
            positive_rows[pos_start : pos_start + n_pos]
            + negative_rows[neg_start : neg_start + n_neg]
        )
        pos_start, neg_start = pos_start + n_pos, neg_start + n_neg
        rng.shuffle(rows)
        splits[name] = rows
    return splits


def _interleave_kinds(negatives: Mapping[str, Sequence[Pair]]) -> List[LabelledPair]:
    # Round-robin over the kinds, so any consecutive slice holds about a third of each.
    rows: List[LabelledPair] = []
    longest = max((len(pairs) for pairs in negatives.values()), default=0)
    for i in range(longest):
        for kind in NEGATIVE_KINDS:
            pairs = negatives.get(kind, ())
            if i < len(pairs):
                rows.append(LabelledPair(pairs[i][0], pairs[i][1], 0, kind))
    return rows


# ---------------------------------------------------------------------------------------------
# Step 5: one domain, end to end, and writing


def build_domain(
    wordnet: "WordNetCorpusReader",
    spec: RootSpec,
    request: SizeRequest,
    seed: int = DEFAULT_SEED,
    include_instances: bool = False,
) -> Dict[str, List[LabelledPair]]:
    """The labelled pairs of every split for one root synset."""
    root = resolve_synset(wordnet, spec.synset_name)
    # Seeded by the root too, so a domain's data does not depend on the other roots given.
    rng = random.Random(f"{seed}:{root.name()}:{int(include_instances)}")
    hierarchy = collect_subhierarchy(root, include_instances)
    pool = build_positive_pool(hierarchy)
    logger.info(
        "%s (%s): %d synsets, %d positive pairs",
        spec.domain,
        root.name(),
        len(hierarchy.synsets),
        len(pool),
    )
    sizes, n_positives = plan_split_sizes(request, len(pool))
    _check_sizes(spec, root.name(), sizes, n_positives, len(pool))
    positives = sample_positives(pool, n_positives, rng)
    total = sum(sizes.values())
    negatives = build_negatives(hierarchy, positives, set(pool), total - n_positives, rng)
    logger.info(
        "%s: %d positives, negatives %s",
        spec.domain,
        n_positives,
        ", ".join(f"{kind} {len(pairs)}" for kind, pairs in negatives.items()),
    )
    return split_pairs(positives, negatives, sizes, rng)


def _check_sizes(
    spec: RootSpec, root_name: str, sizes: Mapping[str, int], n_positives: int, available: int
) -> None:
    if available == 0:
        raise TooFewPairsError(
            f"{root_name} (domain {spec.domain}) has too few descendants: no hyponyms, so no "
            f"(descendant, ancestor) pairs; choose a more general root"
        )
    if n_positives > available:
        raise TooFewPairsError(
            f"{root_name} (domain {spec.domain}) has too few descendants: {n_positives} positive pairs "
            f"requested, only {available} exist; ask for fewer pairs (--size, --split-sizes, --positives)"
        )
    empty = [name for name, size in sizes.items() if size <= 0]
    if empty:
        raise TooFewPairsError(
            f"{root_name} (domain {spec.domain}): split(s) {', '.join(empty)} would be empty; "
            f"ask for more pairs or larger fractions"
        )


def write_splits(
    output: Path, domain: str, splits: Mapping[str, Sequence[LabelledPair]]
) -> List[Path]:
    """Write `<output>/<split>/<domain>.tsv` files; returns their paths."""
    written = []
    for name, rows in splits.items():
        path = Path(output) / name / f"{domain}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        # newline="\n": identical bytes on every platform, like the real files.
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                handle.write(f"{row.hyponym}\t{row.hypernym}\t{row.label}\n")
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------------
# Command line

# Domain and split names become file and folder names, and ":" "=" "," separate options.
