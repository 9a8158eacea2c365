// Training one run on several GPUs or machines with AllenNLP's distributed trainer
// (torch.distributed DDP: one worker process a device, each reading its own shard of the data).
//
// distributed(cuda_devices, num_nodes, primary_address, primary_port) is the `distributed` section
// that `allennlp train` reads (allennlp/commands/train.py, AllenNLP 2.10.1):
//   cuda_devices     the devices of one node, one worker each: [0, 1, 2, 3]; [-1, -1] runs two
//                    CPU workers (gloo), for trying it out
//   num_nodes        machines taking part; every one runs the same command with its own
//                    `--node-rank` (0 on the primary; AllenNLP reads no environment variable
//                    for it, so pass e.g. `--node-rank "$SLURM_NODEID"`)
//   primary_address  the node of rank 0 (AllenNLP 2.10's name: not master_address)
//   primary_port     a free port there; required with several nodes (on one node AllenNLP
//                    picks a free one when it is null)
// and a DDP accelerator with find_unused_parameters. DDP fails at the second step when a
// parameter got no gradient in the first ("Expected to have finished reduction in the prior
// iteration"). The shipped models avoid that by default (BERT (MTL) computes every domain's
// head, the unused pooler is dropped), but settings that keep a parameter out of the loss do
// not: checked with two CPU workers, MFT with typicality.embedding 'pooler' (which keeps BERT's
// pooler for typicality only) fails without it and trains with it. The cost is one walk of the
// autograd graph a step.
//
// The data loader's batch_size is per worker: the effective batch is batch_size × workers, so
// divide it to keep the paper's 32 (e.g. `-o '{"data_loader.batch_sampler.batch_size": 8}'`
// for 4 workers) and count mid-epoch checkpoints in batches (as common.libsonnet does).
//
// One machine, four GPUs: add the section with -o to any config in training_configs/ (run from
// the project folder, against which the import resolves), or put it in an experiment file's
// `overrides` (`allennlp mft-experiment` trains one run on one node at a time):
//   allennlp train training_configs/taxonomy/mft_full.jsonnet -s runs/taxonomy-mft_full \
//     -o "(import 'training_configs/distributed.libsonnet').distributed([0, 1, 2, 3])"
//
// Two machines with four GPUs each: the same command on both, with the node's rank and a
// folder of its own. AllenNLP's first worker on every node writes checkpoints, metrics and
// model.tar.gz, so nodes sharing a file system must not share the -s folder; node 0's holds
// the run.
//   allennlp train training_configs/taxonomy/mft_full.jsonnet \
//     -s "runs/taxonomy-mft_full-node$NODE_RANK" --node-rank "$NODE_RANK" \
//     -o "(import 'training_configs/distributed.libsonnet').distributed([0, 1, 2, 3],
//         num_nodes=2, primary_address='gpu-node-01', primary_port=29500)"
// Under Slurm: `sbatch --nodes=2 --ntasks-per-node=1 --gres=gpu:4` with a script that runs
//   srun bash -c 'NODE_RANK=$SLURM_NODEID; <the command above>'
// and takes primary_address from `scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1`.
{
  distributed(cuda_devices, num_nodes=1, primary_address='127.0.0.1', primary_port=null)::
    assert std.isArray(cuda_devices) && std.length(cuda_devices) >= 1
           : 'distributed: cuda_devices must list the devices of one node, e.g. [0, 1]';
    assert std.length(cuda_devices) > 1 || num_nodes > 1
           : 'distributed: one device on one node is not distributed training; list several';
    assert num_nodes == 1 || primary_port != null
           : 'distributed: several nodes need primary_port, a free port on the primary node';
    {
      distributed: {
        cuda_devices: cuda_devices,
        num_nodes: num_nodes,
        primary_address: primary_address,
        [if primary_port != null then 'primary_port']: primary_port,
        ddp_accelerator: { type: 'torch', find_unused_parameters: true },
      },
    },
}
