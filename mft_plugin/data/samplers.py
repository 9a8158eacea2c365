"""Batches drawn from one domain at a time, for the multi-task baseline BERT (MTL)."""
import math
import random
from collections import defaultdict
from typing import Dict, Iterable, List, Sequence

from allennlp.data import Instance
from allennlp.data.samplers import BatchSampler, BucketBatchSampler


@BatchSampler.register("mft_single_domain_bucket")
class SingleDomainBucketSampler(BucketBatchSampler):
    """
    AllenNLP's bucket sampler applied to each domain separately: every batch holds instances of
    one domain only (as multi-task fine-tuning with per-domain heads needs, Sun et al., 2019),
    of similar lengths; the batches of all domains are shuffled together.

    Registered as a `BatchSampler` with name "mft_single_domain_bucket". Parameters are those
    of `bucket`, plus `domain_field` (default `"domain"`).
    """

    def __init__(self, batch_size: int, domain_field: str = "domain", **kwargs) -> None:
        super().__init__(batch_size, **kwargs)
        self.domain_field = domain_field

    def _by_domain(self, instances: Sequence[Instance]) -> Dict[str, List[int]]:
        groups: Dict[str, List[int]] = defaultdict(list)
        for index, instance in enumerate(instances):
            # Instance.__getitem__ is typed Field; the domain field is a DomainField.
            groups[instance[self.domain_field].label].append(index)  # type: ignore[attr-defined]
        return groups

    def get_batch_indices(self, instances: Sequence[Instance]) -> Iterable[List[int]]:
        batches = []
        for positions in self._by_domain(instances).values():
            members = [instances[position] for position in positions]
            shuffle, self.shuffle = self.shuffle, False  # shuffle once, across domains
            try:
                for batch in super().get_batch_indices(members):
                    batches.append([positions[i] for i in batch])
            finally:
                self.shuffle = shuffle
        if self.shuffle:
            random.shuffle(batches)
        yield from batches

    def get_num_batches(self, instances: Sequence[Instance]) -> int:
        rounding = math.floor if self.drop_last else math.ceil
        return sum(
            rounding(len(positions) / self.batch_size)
            for positions in self._by_domain(instances).values()
        )
