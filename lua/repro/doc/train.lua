-- Docstrings of repro.checkpoint (crash-safe checkpoints); repro.train's
-- are in experiment.lua with the loop parts it is built on.
return {

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
