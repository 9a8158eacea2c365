"""
The two losses of MFT (paper §3.2–3.4) and the corrupted domain labels they need.

L = L_TLC + λ·L_SDC, averaged over a batch B instead of the whole training set D.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

CORRUPTIONS = ("shuffle", "uniform", "empirical")


def typicality_weighted_label_loss(
    logits: torch.Tensor, labels: torch.Tensor, typicality: torch.Tensor
) -> torch.Tensor:
    """
    Eq. 3, the typicality-sensitive label classification loss:
    L_TLC = −1/|B| Σ_i Σ_m 1(y_i = m) · t_i · log τ_m(f(x_i)).

    `logits` (B, M) come from the last-layer [CLS] vector f(x); `typicality` (B,) holds t_i.
    """
    per_instance = F.cross_entropy(logits, labels.long().view(-1), reduction="none")
    return (typicality * per_instance).mean()


def corrupt_domain_labels(
    domains: torch.Tensor,
    strategy: str = "shuffle",
    num_domains: Optional[int] = None,
    prior: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """
    Corrupted domain labels z_i, unrelated to the true domains (§3.3, Algorithm 1 line 10).

    - `shuffle`: a random permutation of the batch's true domain labels (the paper's
      "efficient implementation", approximating the domain distribution);
    - `uniform`: z ~ U{1..K}, for balanced domains;
    - `empirical`: z drawn from the training-set domain frequencies `prior` (the
      maximum-likelihood estimate of Pr(z)).
    """
    if strategy == "shuffle":
        return domains[torch.randperm(domains.shape[0], device=domains.device)]
    if strategy == "uniform":
        if num_domains is None:
            raise ValueError("uniform corruption needs num_domains.")
        return torch.randint(num_domains, domains.shape, device=domains.device)
    if strategy == "empirical":
        if prior is None:
            raise ValueError("empirical corruption needs the training-set domain frequencies.")
        draws = torch.multinomial(prior.float(), domains.numel(), replacement=True)
        return draws.view(domains.shape).to(domains.device)
    raise ValueError(f"Unknown corruption {strategy!r}; expected one of {CORRUPTIONS}.")


def skip_layer_domain_corruption_loss(
    domain_logits: Sequence[torch.Tensor],
    corrupted_domains: torch.Tensor,
    typicality: torch.Tensor,
) -> torch.Tensor:
    """
    Eq. 7, the skip-layer domain corruption loss:
    L_SDC = −1/(|Ls|·|B|) Σ_i Σ_{l ∈ Ls} t_i · log δ_{z_i}(h_l(x_i) + E_D(k_i)).

    `domain_logits` holds, for every layer l in Ls, the (B, K) outputs of δ_l on the pooled
    layer-l representation plus the true domain's embedding; `corrupted_domains` are z.
    """
    per_layer = torch.stack(
        [F.cross_entropy(logits, corrupted_domains, reduction="none") for logits in domain_logits]
    )
    return (typicality * per_layer.mean(dim=0)).mean()
