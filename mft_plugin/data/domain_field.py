"""
The domain of an instance, as a label whose vocabulary may not know it.

A model is trained on some domains and then asked to evaluate or predict instances of others
(a new category of reviews, a new taxonomy). Its only use of the domain outside training is
per-domain accuracy (and, for BERT (MTL), the choice of classifier), so an unknown domain is
indexed as `NO_DOMAIN` and the instance is treated as one without a domain, instead of failing
the whole run with a vocabulary `KeyError`.
"""
import logging
from typing import Set, Tuple, cast

from allennlp.data import Instance
from allennlp.data.fields import LabelField
from allennlp.data.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

# Vocabulary namespace of the domain labels. It ends in "labels", so AllenNLP keeps it free of
# padding and OOV entries: domain index k is exactly the k-th domain seen.
DOMAIN_NAMESPACE = "domain_labels"

# The index of a domain the vocabulary does not know: "no domain". The models skip such rows
# in per-domain metrics; it is also the index of AllenNLP's empty `LabelField`.
NO_DOMAIN = -1


class DomainField(LabelField):
    """
    A `LabelField` in the `domain_labels` namespace whose indexing accepts a domain that the
    vocabulary does not know: it becomes `NO_DOMAIN` (-1), with one warning per domain that
    names it and the known ones. Counting vocabulary items is `LabelField`'s, so a vocabulary
    built from training data holds every training domain as before.

    # Parameters

    domain : `str`
        The domain's name, as the reader found it.
    label_namespace : `str`, optional (default = `"domain_labels"`)
    """

    __slots__ = []
    label: str  # a domain's name (LabelField allows an int too)

    # (namespace, domain) pairs already warned about, once per process, as AllenNLP's
    # `LabelField` warns about namespaces.
    _warned_unknown: Set[Tuple[str, str]] = set()

    def __init__(self, domain: str, label_namespace: str = DOMAIN_NAMESPACE) -> None:
        super().__init__(domain, label_namespace=label_namespace)

    def index(self, vocab: Vocabulary) -> None:
        known = vocab.get_token_to_index_vocabulary(self._label_namespace)
        if self.label in known:
            self._label_id = known[self.label]
            return
        self._label_id = NO_DOMAIN
        key = (self._label_namespace, str(self.label))
        if key not in self._warned_unknown:
            self._warned_unknown.add(key)
            logger.warning(
                "Domain %r is not one the model was trained on (known domains: %s); its "
                "instances are treated as having no domain.",
                self.label,
                ", ".join(sorted(known)) or "none",
            )


def domain_field_of(instance: Instance, name: str = "domain") -> "DomainField":
    """
    The instance's domain field, typed as what it is: AllenNLP types every field of an
    `Instance` as the base `Field`. For instances whose domain field is known to be a
    `DomainField`: the wrapper's, and any that passed the reader contract check.
    """
    return cast(DomainField, instance[name])
