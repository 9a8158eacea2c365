// Stage 2: fine-tune on one domain from any stage-1 archive (MFT Full/DC/TW, MTL, Adv).
// Train: MFT_STAGE1=runs/reviews-mft_full/model.tar.gz MFT_DOMAIN=<domain> \
//        allennlp train training_configs/reviews/stage2.jsonnet -s runs/reviews-mft_full-<domain>
local common = import '../common.libsonnet';
local task = import 'base.libsonnet';

assert common.stage1_archive != '' : 'set MFT_STAGE1 to the stage-1 model.tar.gz';
common.single_domain(task, common.domain, stage1_archive=common.stage1_archive)
