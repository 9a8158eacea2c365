"""
Learning from typicality (paper §3.2): class prototypes and typicality scores.

Plain tensor functions, usable and testable without AllenNLP: this module imports only torch,
numpy and (for several prototypes per class) scikit-learn, and does nothing on import. Notation as in the paper and
`MFT_SPEC.md`: K domains, M classes, E(x) the d-dimensional embedding of an instance,
c_m^k the prototype of class m in domain k, α the balancing factor.

The prototype callback (`mft_plugin.callbacks.prototypes`) runs them over the training data;
`TypicalityConfig` holds the options, including the variants found in the authors' code.
"""
from typing import Optional, Tuple

import numpy
import torch
import torch.nn.functional as F

EMBEDDINGS = ("mean", "unmasked_mean", "pooler")
OTHER_DOMAIN_TERMS = ("mean_of_cosines", "cosine_to_mean")
GRANULARITIES = ("domain_class", "domain")
RESCALINGS = (None, "mean_one")


class TypicalityConfig:
    """
    How typicality scores are computed. The defaults are the paper's. A value out of range is a
    `ValueError` that names the key (the model's config section builds this class through
    `mft_plugin.models.meta_fine_tuning.TypicalitySection`, which reports it as a configuration
    error).

    # Parameters

    alpha : `float`, optional (default = `0.5`)
        α of eq. 2, the weight of the instance's own domain; must lie in (0, 1).
    prototypes_per_class : `int`, optional (default = `1`)
        J prototypes per (domain, class), found by k-means (§3.2, second formula). 1 is eq. 2.
    temperature : `float`, optional (default = `0.1`)
        Softmax temperature of the cluster memberships β_j when J > 1. Cosines lie in [-1, 1],
        so at 1.0 the memberships would be almost uniform; 0.1 weights the nearest clusters.
    embedding : `str`, optional (default = `"mean"`)
        E(x): `"mean"` of the last layer over non-padding tokens without [CLS] (the paper);
        `"unmasked_mean"` over every position after [CLS], padding included (EasyNLP);
        `"pooler"`, BERT's pooler output (EasyTransfer).
    other_domains : `str`, optional (default = `"mean_of_cosines"`)
        The second term of eq. 2: the mean of the cosines to the other domains' prototypes
        (the paper), or `"cosine_to_mean"`, the cosine to the mean of those prototypes
        (EasyTransfer).
    granularity : `str`, optional (default = `"domain_class"`)
        Prototypes per (domain, class) as in the paper, or per `"domain"` only (EasyNLP).
    seed : `int`, optional (default = `13`)
        Seed of k-means when J > 1.
    rescale : `str`, optional (default = `None`)
        The scores as eq. 2 gives them (`None`, the paper), or `"mean_one"`: negatives clipped
        to 0 and every score divided by the training set's mean, so that L_TLC keeps the scale
        of the plain loss whatever the encoder's cosines are (`rescale_to_mean_one`).
    """

    def __init__(
        self,
        alpha: float = 0.5,
        prototypes_per_class: int = 1,
        temperature: float = 0.1,
        embedding: str = "mean",
        other_domains: str = "mean_of_cosines",
        granularity: str = "domain_class",
        seed: int = 13,
        rescale: Optional[str] = None,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"typicality.alpha must lie in (0, 1), got {alpha}.")
        if prototypes_per_class < 1:
            raise ValueError(
                f"typicality.prototypes_per_class must be at least 1, got {prototypes_per_class}."
            )
        if temperature <= 0:
            raise ValueError(f"typicality.temperature must be positive, got {temperature}.")
        for key, value, allowed in (
            ("embedding", embedding, EMBEDDINGS),
            ("other_domains", other_domains, OTHER_DOMAIN_TERMS),
            ("granularity", granularity, GRANULARITIES),
            ("rescale", rescale, RESCALINGS),
        ):
            if value not in allowed:
                raise ValueError(f"typicality.{key} must be one of {allowed}, got {value!r}.")
        if other_domains == "cosine_to_mean" and prototypes_per_class > 1:
            raise ValueError(
                "typicality.other_domains='cosine_to_mean' is the authors' single-prototype form; "
                "use it with prototypes_per_class=1."
            )
        self.alpha = alpha
        self.prototypes_per_class = prototypes_per_class
        self.temperature = temperature
        self.embedding = embedding
        self.other_domains = other_domains
        self.granularity = granularity
        self.seed = seed
        self.rescale = rescale


def mean_pool_without_cls(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """
    h_l(x) = Avg(h_{l,1}(x), ..., h_{l,Max}(x)), "excluding the [CLS] embeddings" (§3.3).

    The mean over the non-padding positions of `hidden` (batch, length, d) after position 0;
    with the last layer this is E(x) of §3.2.
    """
    token_mask = mask.to(hidden.dtype).clone()
    token_mask[:, 0] = 0.0
    summed = (hidden * token_mask.unsqueeze(-1)).sum(dim=1)
    return summed / token_mask.sum(dim=1, keepdim=True).clamp(min=1.0)


def unmasked_mean_after_cls(hidden: torch.Tensor) -> torch.Tensor:
    """EasyNLP's E(x): the mean over every position after [CLS], padding included."""
    return hidden[:, 1:].mean(dim=1)


def prototype_sums_and_counts(
    embeddings: torch.Tensor,
    domains: torch.Tensor,
    classes: torch.Tensor,
    num_domains: int,
    num_classes: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    The sums Σ_{x ∈ D_m^k} E(x) (K, M, d) and the sizes |D_m^k| (K, M) of eq. 1.

    Kept apart so that distributed workers can all-reduce both before dividing.
    """
    dimension = embeddings.shape[-1]
    group = domains.long() * num_classes + classes.long()
    sums = torch.zeros(num_domains * num_classes, dimension, dtype=torch.float64)
    sums.index_add_(0, group, embeddings.to(torch.float64))
    counts = torch.bincount(group, minlength=num_domains * num_classes).to(torch.float64)
    return sums.view(num_domains, num_classes, dimension), counts.view(num_domains, num_classes)


def class_prototypes(sums: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """
    Eq. 1: c_m^k = 1/|D_m^k| Σ_{x ∈ D_m^k} E(x), shape (K, M, d).

    Groups without instances (a class absent from a domain) get a zero vector; callers mask
    them with `counts > 0`.
    """
    return (sums / counts.clamp(min=1.0).unsqueeze(-1)).to(torch.float32)


def typicality_scores(
    similarities: torch.Tensor,
    domains: torch.Tensor,
    present: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """
    Eq. 2: t_i = α·cos(E(x_i), c_{y_i}^{k_i}) + (1−α)/(K−1) · Σ_{k'≠k_i} cos(E(x_i), c_{y_i}^{k'}).

    `similarities` (N, K) holds cos(E(x_i), c_{y_i}^{k'}) for every domain k' (or the
    multi-prototype similarity of `membership_weighted_similarities`); `present` (N, K) says
    whether class y_i has a prototype in domain k'. Where the class is missing from some other
    domains, the second term averages over the domains that have it; where no other domain has
    it, t_i is the first cosine alone, unscaled (MFT_SPEC).
    """
    own = similarities.gather(1, domains.long().unsqueeze(1)).squeeze(1)
    others = present.clone()
    others.scatter_(1, domains.long().unsqueeze(1), False)
    other_count = others.sum(dim=1)
    other_mean = (similarities * others).sum(dim=1) / other_count.clamp(min=1)
    return torch.where(other_count > 0, alpha * own + (1.0 - alpha) * other_mean, own)


def cosine_to_prototypes(
    embeddings: torch.Tensor, classes: torch.Tensor, prototypes: torch.Tensor
) -> torch.Tensor:
    """cos(E(x_i), c_{y_i}^{k'}) for every instance i and domain k': (N, K)."""
    own_class = prototypes[:, classes.long()].transpose(0, 1)  # (N, K, d)
    return F.cosine_similarity(embeddings.float().unsqueeze(1), own_class, dim=-1)


def cosine_to_other_domain_mean(
    embeddings: torch.Tensor,
    domains: torch.Tensor,
    classes: torch.Tensor,
    prototypes: torch.Tensor,
    present_groups: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """
    The authors' variant of eq. 2 (EasyTransfer): the second term is the cosine to the mean of
    the other domains' prototypes of the class, not the mean of the cosines.
    """
    own_class = prototypes[:, classes.long()].transpose(0, 1)  # (N, K, d)
    present = present_groups[:, classes.long()].transpose(0, 1)  # (N, K)
    own = own_class[torch.arange(len(domains)), domains.long()]
    others = present.clone()
    others.scatter_(1, domains.long().unsqueeze(1), False)
    other_count = others.sum(dim=1, keepdim=True)
    other_mean = (own_class * others.unsqueeze(-1)).sum(dim=1) / other_count.clamp(min=1)
    embeddings = embeddings.float()
    own_cos = F.cosine_similarity(embeddings, own, dim=-1)
    other_cos = F.cosine_similarity(embeddings, other_mean, dim=-1)
    return torch.where(
        other_count.squeeze(1) > 0, alpha * own_cos + (1 - alpha) * other_cos, own_cos
    )


def cluster_prototypes(
    embeddings: torch.Tensor,
    domains: torch.Tensor,
    classes: torch.Tensor,
    num_domains: int,
    num_classes: int,
    clusters: int,
    seed: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Multiple prototypes (§3.2): k-means splits each D_m^k into J clusters; their centroids are
    c_{m,j}^k. Returns centroids (K, M, J, d) and a validity mask (K, M, J): a group smaller
    than J gets as many clusters as it has instances, an empty group none.
    """
    from sklearn.cluster import KMeans

    dimension = embeddings.shape[-1]
    centroids = torch.zeros(num_domains, num_classes, clusters, dimension)
    valid = torch.zeros(num_domains, num_classes, clusters, dtype=torch.bool)
    points = embeddings.float().numpy()
    for domain in range(num_domains):
        for label in range(num_classes):
            members = numpy.flatnonzero((domains == domain).numpy() & (classes == label).numpy())
            if len(members) == 0:
                continue
            count = min(clusters, len(members))
            kmeans = KMeans(n_clusters=count, n_init=10, random_state=seed).fit(points[members])
            centroids[domain, label, :count] = torch.from_numpy(kmeans.cluster_centers_).float()
            valid[domain, label, :count] = True
    return centroids, valid


def membership_weighted_similarities(
    embeddings: torch.Tensor,
    classes: torch.Tensor,
    centroids: torch.Tensor,
    valid: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """
    The multi-prototype form of §3.2: cos(E, c_m^k) is replaced by
    Σ_j β_j cos(E, c_{m,j}^k) / Σ_j β_j with β_j = softmax_j(cos(E, c_{m,j}^k) / temperature)
    over the valid clusters j. With one cluster this is the plain cosine. Returns (N, K).
    """
    own_class = centroids[:, classes.long()].transpose(0, 1)  # (N, K, J, d)
    own_valid = valid[:, classes.long()].transpose(0, 1)  # (N, K, J)
    cosines = F.cosine_similarity(embeddings.float()[:, None, None, :], own_class, dim=-1)
    logits = (cosines / temperature).masked_fill(~own_valid, float("-inf"))
    has_any = own_valid.any(dim=-1, keepdim=True)
    beta = torch.softmax(torch.where(has_any, logits, torch.zeros_like(logits)), dim=-1)
    beta = beta * own_valid
    return (beta * cosines).sum(dim=-1) / beta.sum(dim=-1).clamp(min=1e-12)


def compute_typicality(
    embeddings: torch.Tensor,
    domains: torch.Tensor,
    classes: torch.Tensor,
    sums: torch.Tensor,
    counts: torch.Tensor,
    config: TypicalityConfig,
    all_embeddings: Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None,
) -> torch.Tensor:
    """
    Typicality of the instances (`embeddings`, `domains`, `classes`) given the prototype sums
    and counts over the whole training set (eq. 1), under `config`.

    `classes` are the prototype groups: class indexes, or zeros for `granularity="domain"`.
    `all_embeddings` (embeddings, domains, classes of the whole training set) is needed only
    for k-means when `prototypes_per_class > 1`.
    """
    prototypes = class_prototypes(sums, counts)
    present_groups = counts > 0  # (K, M)
    if config.other_domains == "cosine_to_mean":
        return cosine_to_other_domain_mean(
            embeddings, domains, classes, prototypes, present_groups, config.alpha
        )
    if config.prototypes_per_class == 1:
        similarities = cosine_to_prototypes(embeddings, classes, prototypes)
    else:
        if all_embeddings is None:
            raise ValueError("k-means prototypes need the embeddings of the whole training set.")
        centroids, valid = cluster_prototypes(
            *all_embeddings,
            num_domains=counts.shape[0],
            num_classes=counts.shape[1],
            clusters=config.prototypes_per_class,
            seed=config.seed,
        )
        similarities = membership_weighted_similarities(
            embeddings, classes, centroids, valid, config.temperature
        )
    present = present_groups[:, classes.long()].transpose(0, 1)  # (N, K)
    return typicality_scores(similarities, domains, present, config.alpha)


def rescale_to_mean_one(scores: torch.Tensor) -> torch.Tensor:
    """
    t_i' = max(t_i, 0) / mean_j max(t_j, 0), over the whole training set.

    Not in the paper: eq. 2's cosines depend on the encoder's geometry (with the offline
    MiniLM they average about 0.2 on MNLI and some are negative), so L_TLC of eq. 3 is the plain
    loss scaled by that average, and a negative score would push an instance's label away.
    Clipped and rescaled, the weights keep their order and relative sizes, their mean is 1, and
    L_TLC has the scale of the plain cross-entropy. All scores <= 0 leave every weight at 1.
    """
    clipped = scores.clamp(min=0.0)
    mean = clipped.mean()
    if mean <= 0:
        return torch.ones_like(scores)
    return clipped / mean
