-- Docstrings of repro.train (the language-model training loop) and
-- repro.checkpoint (crash-safe checkpoints).
return {
  ["train.run"] = [=[repro.train.run{model =, optimizer =, data =, steps = [, schedule =, batch =, eval_every =, eval_batches =, grad_clip =, log =, checkpoint =, checkpoint_every =, resume =, stats_every =, stats =, on_step =, quiet =]} -> result
Train a model for steps steps (repro.train{...} calls it too): batches from data, a TSV row per step in log, evaluation, gradient clipping, checkpoints in the folder checkpoint and bit-identical resume. A non-finite loss or gradient ends the run with result.diverged = true before the update is applied. With a checkpoint folder, SIGINT or SIGTERM stops after the current step, writes a checkpoint and exits with status 130.]=],
  ["train.save_checkpoint"] = [=[train.save_checkpoint(dir, state [, keep = 3])
Write the trainer's nested state (model, optimizer, recipes, RNG, data positions) as a checkpoint in dir, keeping the newest keep files.]=],
  ["train.load_checkpoint"] = [=[train.load_checkpoint(dir) -> state | nil
The newest intact checkpoint state in dir, or nil when there is none.]=],

  ["checkpoint.save"] = [=[checkpoint.save(dir, step, tensors [, meta] [, {keep = 3}]) -> path
Write one checkpoint file dir/step-NNNNNNNN.safetensors: tensors (a flat name -> tensor table) and a nested meta table of scalars, each with a checksum, committed by an fsync'ed rename; older files beyond keep are removed afterwards.]=],
  ["checkpoint.load_latest"] = [=[checkpoint.load_latest(dir) -> step, tensors, meta | nil
The newest checkpoint whose checksums verify; a corrupt newest file gives a warning and the previous one is used. nil when dir holds none; raises when none is intact.]=],
  ["checkpoint.list"] = [=[checkpoint.list(dir) -> {step, ...}
The steps of the checkpoint files in dir, ascending.]=],
  ["checkpoint.save_state"] = [=[checkpoint.save_state(dir, state [, {keep = 3}]) -> path
Save a nested table with an integer state.step, tensors and scalars anywhere in it, as one checkpoint.]=],
  ["checkpoint.load_state"] = [=[checkpoint.load_state(dir) -> state | nil
The nested state of the newest intact checkpoint (the inverse of save_state).]=],
}
