"""
Algorithm 1, lines 2–7: before the first update, compute the class prototypes of every domain
and the typicality score of every training instance, and hand the scores to the model.
"""
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple, cast

import torch
import torch.distributed as dist
from allennlp.common import Tqdm
from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance
from allennlp.data.batch import Batch
from allennlp.nn import util as nn_util
from allennlp.training.callbacks.callback import TrainerCallback

from mft_plugin.data.contract import check_reader_contract, instance_text
from mft_plugin.data.domain_field import NO_DOMAIN, domain_field_of
from mft_plugin.models.meta_fine_tuning import MetaFineTuning
from mft_plugin.typicality import (
    class_prototypes,
    compute_typicality,
    prototype_sums_and_counts,
    rescale_to_mean_one,
)

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)

SCORES_FILE = "typicality.jsonl"
SUMMARY_FILE = "prototypes.json"
PROTOTYPES_FILE = "prototypes.pt"


@TrainerCallback.register("mft_prototypes")
class PrototypeCallback(TrainerCallback):
    """
    Runs the prototype pass of MFT in `on_start`: one pass over the training data with the
    model's own (still pretrained) encoder in evaluation mode, without gradients, in batches
    of similar length; then prototypes (eq. 1) and typicality (eq. 2) under the model's
    `typicality` settings, handed to the model by instance id.

    Writes to the serialization directory:
    - `typicality.jsonl`: one line per training instance with `instance_id`, `domain`, `label`,
      `typicality` and `text`, in data order;
    - `prototypes.json`: a summary: instances, typicality statistics and prototype cosines of
      every (domain, class), the settings and the time the pass took;
    - `prototypes.pt`: the prototypes c_m^k (K, M, d) and the group sizes |D_m^k| (K, M).

    Distributed training: every worker embeds its own shard; prototype sums and counts are
    all-reduced, so every worker holds identical prototypes; each worker scores its own shard,
    the scores are gathered, and the primary writes the complete file.

    With `--recover` from a checkpoint, the saved scores are loaded instead of being computed
    again with a partly trained encoder. The callback does nothing for a model that does not use
    typicality (MFT (DC), baselines), except count the domains when the model draws corrupted
    labels from their empirical distribution. For every MFT model it first checks the training
    instances against the reader contract (`mft_plugin.data.contract`, docs/own_project.md).

    Registered as a `TrainerCallback` with name "mft_prototypes".

    # Parameters

    serialization_dir : `str`
    batch_size : `int`, optional (default = `64`)
        Instances per batch of the prototype pass (no gradients, so it can exceed training's).
    """

    def __init__(self, serialization_dir: str, batch_size: int = 64) -> None:
        super().__init__(serialization_dir)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(
                f"mft_prototypes: batch_size must be a positive integer, got {batch_size!r}"
            )
        self.batch_size = batch_size

    def on_start(
        self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs
    ) -> None:
        super().on_start(trainer, is_primary)
        model = trainer.model
        if not isinstance(model, MetaFineTuning):
            return
        # The reader contract first, for every variant: before the first step, not minutes in.
        # The data loader keeps the instances it read for the vocabulary, so this reads nothing
        # again (a loader with `max_instances_in_memory` reads the training data once more).
        instances = list(trainer.data_loader.iter_instances())
        check_reader_contract(instances, model, getattr(trainer.data_loader, "reader", None))
        _require_two_training_domains(instances)
        if not (model.uses_typicality or model.needs_domain_prior):
            return
        _require_known_domains(instances, model)
        model.training_domains_checked = True  # the forward need not check each batch's
        if model.needs_domain_prior:
            model.set_domain_prior(_domain_counts(instances, len(model.domain_names)))
        if not model.uses_typicality:
            return
        scores_path = Path(self.serialization_dir) / SCORES_FILE
        if _resumes_from_checkpoint(trainer):
            scores = load_typicality(scores_path)
            check_every_instance_scored(scores, instances, scores_path)
            model.set_typicality(scores)
            logger.info("Recovered run: typicality scores loaded from %s", scores_path)
            return
        records, summary, prototypes = self.compute(model, instances)
        model.set_typicality({record["instance_id"]: record["typicality"] for record in records})
        if is_primary:
            directory = Path(self.serialization_dir)
            torch.save(prototypes, directory / PROTOTYPES_FILE)
            _write_json_atomically(directory / SUMMARY_FILE, summary)
            write_typicality(scores_path, records)

    # ----------------------------------------------------------------------------------------
    def compute(
        self, model: MetaFineTuning, instances: List[Instance]
    ) -> Tuple[List[Dict[str, Any]], Dict[str, Any], Dict[str, Any]]:
        """
        Typicality records of the whole training set, the summary, and the prototypes (eq. 1)
        with their group sizes, from `instances` (this worker's shard); every worker calls it.
        """
        start = time.perf_counter()
        config = model.typicality_config
        assert config is not None  # computed only for a model that uses typicality
        embeddings, domains, labels = self.embed(model, instances)
        groups = labels if config.granularity == "domain_class" else torch.zeros_like(labels)
        num_groups = model.num_labels if config.granularity == "domain_class" else 1
        num_domains = len(model.domain_names)
        sums, counts = prototype_sums_and_counts(
            embeddings, domains, groups, num_domains, num_groups
        )
        if _distributed():
            sums, counts = _all_reduce_sum(sums), _all_reduce_sum(counts)
        all_embeddings: Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None
        if config.prototypes_per_class > 1:
            all_embeddings = cast(  # the three parts gathered: embeddings, domains, groups
                Tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                tuple(torch.cat(parts) for parts in zip(*_gather((embeddings, domains, groups)))),
            )
        scores = compute_typicality(
            embeddings, domains, groups, sums, counts, config, all_embeddings
        )

        vocab = model.vocab
        records = [
            {
                "instance_id": instance["metadata"]["instance_id"],  # type: ignore[index]
                "domain": model.domain_names[int(domain)],
                "label": vocab.get_token_from_index(int(label), model._label_namespace),
                "typicality": float(score),
                "text": instance_text(instance),
            }
            for instance, domain, label, score in zip(instances, domains, labels, scores)
        ]
        records = _interleave(_gather(records)) if _distributed() else records
        if config.rescale == "mean_one":  # over the whole training set, so after gathering
            raw = torch.tensor([record["typicality"] for record in records], dtype=torch.float64)
            for record, score in zip(records, rescale_to_mean_one(raw).tolist()):
                record["typicality_raw"], record["typicality"] = record["typicality"], score
        summary = prototype_summary(records, sums, counts, model, config)
        summary["seconds"] = round(time.perf_counter() - start, 2)
        logger.info(
            "Typicality of %d instances computed in %.1fs", len(records), summary["seconds"]
        )
        prototypes = {
            "prototypes": class_prototypes(sums, counts),
            "counts": counts,
            "domains": model.domain_names,
            "groups": summary["prototype_groups"],
        }
        return records, summary, prototypes

    def embed(
        self, model: MetaFineTuning, instances: List[Instance]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """E(x) (float16), domain and label indexes of every instance, in instance order."""
        if any("label" not in i.fields or "domain" not in i.fields for i in instances):
            raise ConfigurationError(
                "MFT's training data needs a label and a domain on every instance."
            )
        order = sorted(range(len(instances)), key=lambda index: len(instances[index]["tokens"]))
        device = next(model.parameters()).device
        embeddings = torch.empty(len(instances), model.hidden_size, dtype=torch.float16)
        domains = torch.empty(len(instances), dtype=torch.long)
        labels = torch.empty(len(instances), dtype=torch.long)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for batch_indices in Tqdm.tqdm(
                    list(_chunks(order, self.batch_size)), desc="mft prototypes"
                ):
                    tensors = Batch([instances[i] for i in batch_indices]).as_tensor_dict()
                    tokens = nn_util.move_to_device(tensors["tokens"], device)
                    rows = torch.tensor(batch_indices)
                    embeddings[rows] = model.prototype_embedding(tokens).cpu().to(torch.float16)
                    # Label fields batch to tensors; TensorDict also allows nested dicts.
                    domains[rows] = tensors["domain"]  # type: ignore[assignment]
                    labels[rows] = tensors["label"]  # type: ignore[assignment]
        finally:
            model.train(was_training)
        return embeddings, domains, labels


# --------------------------------------------------------------------------------------------
# Files
def write_typicality(path: Path, records: Sequence[Dict[str, Any]]) -> None:
    """Write `typicality.jsonl` through a temporary file, so a kill leaves the old file whole."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(temporary, path)


def load_typicality(path: Path) -> Dict[str, float]:
    """`{instance_id: typicality}` from a `typicality.jsonl`."""
    if not path.is_file():
        raise ConfigurationError(
            f"Recovering an MFT run needs the typicality scores of its start, but {path} is "
            "missing; computing them again with a partly trained encoder would change the method. "
            "Start the run afresh instead of with --recover."
        )
    scores = {}
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            try:
                record = json.loads(line)
                instance_id, score = record["instance_id"], float(record["typicality"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise ConfigurationError(f"{path}:{line_number}: not a typicality record ({error})")
            if not math.isfinite(score):
                raise ConfigurationError(
                    f"{path}:{line_number}: typicality {score} of {instance_id} is not a finite "
                    "number; start the run afresh instead of with --recover."
                )
            if instance_id in scores:
                raise ConfigurationError(
                    f"{path}:{line_number}: a second score of {instance_id}; start the run afresh "
                    "instead of with --recover."
                )
            scores[instance_id] = score
    return scores


def check_every_instance_scored(
    scores: Dict[str, float], instances: Sequence[Instance], path: Path
) -> None:
    """
    Refuses saved scores that miss a training instance: the model would weight it 1 without a
    word. In distributed training `instances` is this worker's shard.
    """
    instance_ids = [instance["metadata"]["instance_id"] for instance in instances]  # type: ignore[index]
    missing = [instance_id for instance_id in instance_ids if instance_id not in scores]
    if not missing:
        return
    whose = "this worker's " if _distributed() else ""
    examples = ", ".join(missing[:3]) + (
        f" and {len(missing) - 3} more" if len(missing) > 3 else ""
    )
    raise ConfigurationError(
        f"{path} holds typicality scores for {len(instance_ids) - len(missing)} of the "
        f"{len(instance_ids)} instances of {whose}training data; none for {examples}. The file is "
        "incomplete or was written for other data, and recovering with it would give those "
        "instances weight 1. Start the run afresh instead of with --recover."
    )


def prototype_summary(
    records: Sequence[Dict[str, Any]],
    sums: torch.Tensor,
    counts: torch.Tensor,
    model: MetaFineTuning,
    config,
) -> Dict[str, Any]:
    """Instances and typicality statistics per (domain, class), and prototype cosines."""
    by_group: Dict[Tuple[str, str], List[float]] = {}
    for record in records:
        by_group.setdefault((record["domain"], record["label"]), []).append(record["typicality"])
    prototypes = class_prototypes(sums, counts)
    group_names = (
        [
            model.vocab.get_token_from_index(i, model._label_namespace)
            for i in range(model.num_labels)
        ]
        if config.granularity == "domain_class"
        else ["*"]
    )
    cosines = {}
    for index, name in enumerate(group_names):
        normalised = torch.nn.functional.normalize(prototypes[:, index].float(), dim=-1)
        cosines[name] = [[round(float(v), 4) for v in row] for row in normalised @ normalised.T]
    return {
        "domains": model.domain_names,
        "prototype_groups": group_names,
        "instances": int(counts.sum()),
        "groups": [
            {
                "domain": domain,
                "label": label,
                "instances": len(values),
                "typicality_mean": sum(values) / len(values),
                "typicality_min": min(values),
                "typicality_max": max(values),
            }
            for (domain, label), values in sorted(by_group.items())
        ],
        "prototype_cosine_between_domains": cosines,
        "settings": dict(vars(config)),
    }


def _write_json_atomically(path: Path, content: Dict[str, Any]) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


# --------------------------------------------------------------------------------------------
# Helpers
def _resumes_from_checkpoint(trainer: "GradientDescentTrainer") -> bool:
    """Whether the trainer restored a checkpoint with some training already done."""
    return bool(
        getattr(trainer, "_start_after_epochs_completed", 0)
        or getattr(trainer, "_start_after_batches_in_epoch_completed", 0)
    )


def _require_two_training_domains(instances: Sequence[Instance]) -> None:
    """
    MFT learns what K >= 2 domains share: count them on the training data (the vocabulary's
    domains include those of dev), over every worker's shard in distributed training.
    """
    # the `domain` field, which the reader contract (checked before) requires; the metadata's
    # `domain` is optional
    domains = {
        domain_field_of(instance).label for instance in instances if "domain" in instance.fields
    }
    if _distributed():
        domains = set().union(*_gather(domains))
    domains.discard(None)
    if len(domains) < 2:
        raise ConfigurationError(
            f"MFT needs the training data of at least two domains, but it holds {len(domains)} "
            f"({sorted(domains)}); the dev data's domains do not count. Check train_data_path "
            "and the reader's `domains`."
        )


def _require_known_domains(instances: Sequence[Instance], model: MetaFineTuning) -> None:
    """
    Prototypes and the domain prior are indexed by domain, so every training domain must be in
    the model's vocabulary (a domain it lacks is indexed `NO_DOMAIN`, see `DomainField`).
    """
    unknown = sorted(
        {
            domain_field_of(instance).label
            for instance in instances
            if "domain" in instance.fields and domain_field_of(instance)._label_id == NO_DOMAIN
        }
    )
    if unknown:
        raise ConfigurationError(
            f"MFT's training data has domain(s) {unknown} that the model's vocabulary lacks "
            f"(it has {sorted(model.domain_names)}); build the vocabulary from the training data."
        )


def _domain_counts(instances: Sequence[Instance], num_domains: int) -> torch.Tensor:
    counts = torch.zeros(num_domains, dtype=torch.float64)
    for instance in instances:
        counts[domain_field_of(instance)._label_id] += 1
    return _all_reduce_sum(counts) if _distributed() else counts


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """
    The sum of `tensor` over the workers, on the CPU. NCCL (the backend of GPU training) reduces
    only CUDA tensors, so the tensor travels on the process group's device: this worker's GPU
    under NCCL, the CPU under gloo.
    """
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == dist.Backend.NCCL
        else torch.device("cpu")
    )
    reduced = tensor.to(device)
    dist.all_reduce(reduced)
    return reduced.cpu()


def _gather(value: Any) -> List[Any]:
    """Every worker's `value`, in rank order (a one-element list outside distributed runs)."""
    if not _distributed():
        return [value]
    gathered: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def _interleave(shards: List[List[Any]]) -> List[Any]:
    """Undo AllenNLP's distributed sharding (worker r reads items r, r + W, r + 2W, ...)."""
    merged: List[Any] = []
    for position in range(max(len(shard) for shard in shards)):
        merged.extend(shard[position] for shard in shards if position < len(shard))
    return merged


def _chunks(items: List[int], size: int) -> Iterator[List[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
