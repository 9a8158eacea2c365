"""
Any AllenNLP reader, unchanged, as a multi-domain reader that meets the reader contract
(docs/own_project.md, "The reader contract").
"""
import inspect
import json
import logging
from itertools import islice
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance
from allennlp.data.dataset_readers.dataset_reader import DatasetReader, PathOrStr
from allennlp.data.fields import LabelField, MetadataField

from mft_plugin.data.common import check_selection_options, stratified_positions
from mft_plugin.data.contract import CONTRACT_PAGE, instance_text
from mft_plugin.data.domain_field import DomainField, domain_field_of

logger = logging.getLogger(__name__)


@DatasetReader.register("mft_multi_domain")
class MultiDomainWrapper(DatasetReader):
    """
    Wraps a reader of your own so that its instances feed MFT and the plugin's baselines: it
    adds the `domain` field (a `DomainField`) and the metadata the contract asks for, and keeps
    every other field of the base reader's instances.

    The domain comes from the data path or from the base reader's instances:
    - a dict `{domain: path}` (a mapping, or its JSON string, as AllenNLP's `interleaving`
      reader takes): every instance read from `path` has that domain;
    - a single path, with `domain_field`: the field of the base reader's instances (a
      `LabelField` or a `MetadataField` holding a string) or, when there is no such field, the
      key of their `metadata` dict that holds the domain. A field used so is replaced by
      `domain` (models take no other field); a metadata key stays.

    Every instance gets `metadata` (the base reader's metadata dict, when it has one, plus):
    - `instance_id`: `"<source>:<n>"`, where n is the 0-based position of the instance in the
      base reader's whole output of that path, before the `domains` filter and the sample, and
      `<source>` is the dict key (the domain), or the path's file name for a single path. It is
      the same on every run, in every sample and in every distributed shard, and ids of
      different paths never collide. (An `instance_id` of the base reader is replaced.)
    - `domain`: the domain's name;
    - `text`: the base metadata's `text` if it has one, else the tokens turned back into text
      (`mft_plugin.data.contract.instance_text`).

    The base reader reads every path whole and unsharded (positions need the whole output); this
    reader then filters, samples and shards (distributed and multi-process) the result, so
    each worker tokenizes the whole data set once. Without a sample, instances stream; with
    one, a path's instances are held in memory while the sample is drawn.

    Registered as a `DatasetReader` with name "mft_multi_domain".

    # Parameters

    base_reader : `DatasetReader`
        Your reader, unchanged. Its instances need `tokens` and `label` (see the contract).
    domain_field : `str`, optional (default = `None`)
        With a single data path: the field or metadata key that holds the domain.
    domains : `List[str]`, optional (default = `None`)
        Read only these domains. Every one must occur in the data.
    sample_fraction : `float`, optional (default = `None`)
        Few-shot: keep this fraction of every (domain, label) group, as the plugin's readers do.
    sample_count : `int`, optional (default = `None`)
        Few-shot: keep this many instances per domain, split over the labels by their sizes.
    sample_seed : `int`, optional (default = `13`)
        Seed of the few-shot sample.
    """

    def __init__(
        self,
        base_reader: DatasetReader,
        domain_field: Optional[str] = None,
        domains: Optional[List[str]] = None,
        sample_fraction: Optional[float] = None,
        sample_count: Optional[int] = None,
        sample_seed: int = 13,
        **kwargs,
    ) -> None:
        super().__init__(
            manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs
        )
        try:
            check_selection_options(domains, sample_fraction, sample_count)
        except ValueError as error:
            raise ConfigurationError(f"mft_multi_domain: {error}") from error
        self.base_reader = base_reader
        # A reader built inside a distributed worker shards itself by default; the base reader
        # must read everything, so that positions (and ids) do not depend on the shard.
        self.base_reader._set_distributed_info(None)
        self.domain_field = domain_field
        self.domains = list(domains) if domains is not None else None
        self.sample_fraction = sample_fraction
        self.sample_count = sample_count
        self.sample_seed = sample_seed
        self._base_takes_domain = "domain" in _parameters(base_reader.text_to_instance)

    # ----------------------------------------------------------------------------------------
    # Reading
    def _read(self, file_path: Union[str, Mapping[str, PathOrStr]]) -> Iterator[Instance]:
        sources = self._sources(file_path)
        yield from self._shard(self._select(sources))

    def _sources(self, file_path) -> List[Tuple[str, Optional[str], PathOrStr]]:
        """`(id prefix, domain or None, path)` of every path to read."""
        paths = file_path
        if isinstance(file_path, str) and file_path.lstrip().startswith("{"):
            try:
                paths = json.loads(file_path)
            except json.JSONDecodeError as error:
                raise ConfigurationError(
                    f"mft_multi_domain: the data path {file_path!r} starts like a JSON object "
                    f"{{domain: path}} but is not valid JSON ({error.msg})"
                ) from error
        if isinstance(paths, Mapping):
            if self.domain_field is not None:
                raise ConfigurationError(
                    "mft_multi_domain: the data path is a dict {domain: path}, so the domains are "
                    f"its keys; leave out domain_field ({self.domain_field!r}) or give one path."
                )
            if not paths:
                raise ConfigurationError("mft_multi_domain: the data path dict is empty.")
            return [(str(domain), str(domain), path) for domain, path in paths.items()]
        if self.domain_field is None:
            raise ConfigurationError(
                f"mft_multi_domain: the data path {str(paths)!r} is one path, so the domain must "
                "come from the instances: set domain_field, or give a dict {domain: path}."
            )
        return [(Path(str(paths)).name, None, paths)]

    def _select(self, sources) -> Iterator[Instance]:
        present = set()
        for prefix, domain, path in sources:
            if domain is not None and self.domains is not None and domain not in self.domains:
                continue  # a path of a domain filtered out (its ids are its own: nothing moves)
            wrapped = (
                self.wrap(instance, domain, f"{prefix}:{position}", path, position)
                for position, instance in enumerate(self.base_reader.read(path))
            )
            kept = (
                instance
                for instance in wrapped
                if self.domains is None or domain_field_of(instance).label in self.domains
            )
            if self.sample_fraction is not None or self.sample_count is not None:
                pool = list(kept)
                keys = [(domain_field_of(i).label, _label_of(i)) for i in pool]
                chosen = stratified_positions(
                    keys, self.sample_fraction, self.sample_count, self.sample_seed
                )
                kept = (pool[position] for position in chosen)
            count = 0
            for instance in kept:
                count += 1
                present.add(domain_field_of(instance).label)
                yield instance
            logger.info("Read %d instances from %s", count, path)
        missing = [domain for domain in self.domains or () if domain not in present]
        if missing:
            raise ConfigurationError(
                f"mft_multi_domain: domain(s) {missing} yield no instances from "
                f"{[str(path) for _, _, path in sources]} (domains present: {sorted(present)})"
            )

    def _shard(self, instances: Iterable[Instance]) -> Iterator[Instance]:
        """
        This worker's share, as `shard_iterable` takes it, but by the reader's distributed info
        (which AllenNLP sets from torch.distributed when it builds the reader), so that a
        caller can also set it; `max_instances` is applied by `read()`.
        """
        shard = iter(instances)
        info = self.get_distributed_info()
        if info is not None:
            shard = islice(shard, info.global_rank, None, info.world_size)
        worker = self.get_worker_info()
        if worker is not None:
            shard = islice(shard, worker.id, None, worker.num_workers)
        return shard

    # ----------------------------------------------------------------------------------------
    # Instances
    def wrap(
        self,
        instance: Instance,
        domain: Optional[str],
        instance_id: Optional[str],
        path: Optional[PathOrStr] = None,
        position: Optional[int] = None,
    ) -> Instance:
        """
        Add `domain` and the contract's metadata to a base reader's instance (in place). The
        domain is `domain` when given, else taken from `domain_field`; an instance of a single
        path without one fails, naming the path and position.
        """
        fields = instance.fields
        if domain is None and self.domain_field is not None:
            domain = self._domain_from_instance(instance, path, position)
        if domain is not None:
            fields["domain"] = DomainField(domain)
        metadata = fields.get("metadata")
        values: Dict = {}
        if metadata is not None:
            if not isinstance(metadata, MetadataField) or not isinstance(metadata.metadata, dict):
                raise ConfigurationError(
                    f"mft_multi_domain: {_where(path, position)}the base reader "
                    f"{type(self.base_reader).__name__}'s `metadata` field holds no dict, so the "
                    f"wrapper cannot add its keys to it. See {CONTRACT_PAGE}."
                )
            values = dict(metadata.metadata)
        values["instance_id"] = instance_id
        values["domain"] = domain
        if not isinstance(values.get("text"), str):
            self.base_reader.apply_token_indexers(instance)  # the tokens' tokenizer gives the text
            values["text"] = instance_text(instance)
        fields["metadata"] = MetadataField(values)
        return instance

    def _domain_from_instance(self, instance: Instance, path, position) -> Optional[str]:
        name = self.domain_field
        assert name is not None  # called only with a domain_field
        field = instance.fields.get(name)
        if field is not None:
            if isinstance(field, LabelField):
                value = field.label
            elif isinstance(field, MetadataField):
                value = field.metadata
            else:
                raise ConfigurationError(
                    f"mft_multi_domain: {_where(path, position)}domain_field {name!r} is a "
                    f"{type(field).__name__}; it must be a LabelField, a MetadataField or a key "
                    "of the `metadata` dict."
                )
            if name != "domain":
                del instance.fields[name]  # models take no such argument; `domain` replaces it
        else:
            metadata = instance.fields.get("metadata")
            values = metadata.metadata if isinstance(metadata, MetadataField) else None
            if not isinstance(values, dict) or values.get(name) is None:
                if path is None:  # text_to_instance: an instance without a domain is allowed
                    return None
                raise ConfigurationError(
                    f"mft_multi_domain: {_where(path, position)}the base reader "
                    f"{type(self.base_reader).__name__}'s instance has neither a field nor a "
                    f"metadata key {name!r} (domain_field); it has fields {sorted(instance.fields)}."
                )
            value = values[name]
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ConfigurationError(
                f"mft_multi_domain: {_where(path, position)}domain_field {name!r} holds "
                f"{value!r}, not a domain name."
            )
        return str(value)

    def text_to_instance(self, *args, domain: Optional[str] = None, **kwargs) -> Instance:
        """
        The base reader's `text_to_instance(*args, **kwargs)` (given `domain` too, when it takes
        one), with the domain field and metadata added; `instance_id` is None.
        """
        if self._base_takes_domain:
            kwargs["domain"] = domain
        instance = self.base_reader.text_to_instance(*args, **kwargs)
        return self.wrap(instance, domain, None)

    def apply_token_indexers(self, instance: Instance) -> None:
        self.base_reader.apply_token_indexers(instance)


def _label_of(instance: Instance) -> Optional[str]:
    label = instance.fields.get("label")
    return str(label.label) if isinstance(label, LabelField) else None


def _where(path, position) -> str:
    if path is None:
        return ""
    return f"{path}, instance {position}: " if position is not None else f"{path}: "


def _parameters(function) -> List[str]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return []
