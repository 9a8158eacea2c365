from mft_plugin.data.common import DataFileError, MultiDomainReader
from mft_plugin.data.domain_field import DOMAIN_NAMESPACE, NO_DOMAIN, DomainField
from mft_plugin.data.nli import MultiDomainNliReader
from mft_plugin.data.reviews import MultiDomainReviewReader
from mft_plugin.data.term_pairs import TermPairReader
from mft_plugin.data.samplers import SingleDomainBucketSampler
from mft_plugin.data.contract import CONTRACT_PAGE, check_reader_contract
from mft_plugin.data.wrapper import MultiDomainWrapper
from mft_plugin.data.collate import TransformerCollator, transformer_collate
