-- Docstrings of repro.dist (data-parallel jobs on Open MPI, docs/dist.md)
-- and of the loader's shard of a batch.
return {
  ["dist.available"] = [=[dist.available() -> boolean
True when this repro was built with MPI (CMake found Open MPI: Debian libopenmpi-dev), so that it can run as several processes under mpirun.]=],
  ["dist.launched"] = [=[dist.launched() -> boolean
True when a launcher (mpirun, PMI) started this process, judged from its environment (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE, PMI_RANK).]=],
  ["dist.rank"] = [=[dist.rank() -> integer
This process's rank, 0-based as in MPI: 0 .. dist.size() - 1; 0 outside mpirun.]=],
  ["dist.size"] = [=[dist.size() -> integer
The number of processes of the job; 1 outside mpirun.]=],
  ["dist.enabled"] = [=[dist.enabled() -> boolean
True when the job has more than one process.]=],
  ["dist.barrier"] = [=[dist.barrier()
Wait until every rank reaches this call (a no-op on one process).]=],
  ["dist.abort"] = [=[dist.abort([code])
End every process of the job at once with exit status code (default 1), through MPI_Abort; raises an error outside mpirun. An uncaught error or os.exit with a status other than 0 or 130 already does this.]=],
  ["dist.require"] = [=[dist.require([n]) -> integer
For scripts that need processes: raises a clear error when repro was built without MPI (naming the Debian packages libopenmpi-dev and openmpi-bin) or, given n, when the job does not have n processes; returns the number of processes.]=],
  ["dist.broadcast"] = [=[dist.broadcast(value [, root]) -> value
Rank root's (default 0) value on every rank: nil, booleans, numbers (exactly), strings, tensors and nested tables of them (no metatables). Collective: every rank calls it; the others' argument is ignored. repro.train sends a resumed checkpoint's state this way.]=],
  ["dist.broadcast_parameters"] = [=[dist.broadcast_parameters(params [, root])
Overwrite every rank's parameter tensors (a list, contiguous) with rank root's (default 0), in place. Collective; a no-op on one process.]=],
  ["dist.allgather"] = [=[dist.allgather(numbers) -> list
Every rank's list of numbers (the same length on every rank), concatenated in rank order. Collective.]=],
  ["dist.any_signal"] = [=[dist.any_signal(name) -> "SIGINT" | "SIGTERM" | nil
Agree on a stop: given this rank's pending signal (or nil), returns the signal of the lowest rank that has one, or nil when none has; the same on every rank. Collective; repro.train.interrupt's pending() uses it so that all ranks stop after the same step.]=],
  ["dist.scratch_dir"] = [=[dist.scratch_dir() -> path
This rank's private folder under $TMPDIR (created on first use, removed when the process ends normally): where a rank > 0 writes its copy of an experiment's outputs, so that only rank 0 writes the real ones.]=],
  ["dist.private_path"] = [=[dist.private_path(path) -> path
The path this rank writes in place of path: path itself on rank 0, the same path inside dist.scratch_dir() on the others. repro.experiment moves a rank's output folder this way.]=],
  ["dist.writes"] = [=[dist.writes(path) -> boolean
Whether this rank writes path: always on rank 0; on the others only inside their scratch folder. repro.train writes its log only where this is true.]=],
  ["dist.share_file"] = [=[dist.share_file(path)
Make this rank's file at path (its private path) a copy of rank 0's file at its path, or remove it when rank 0 has none: decisions read from files (resume: which runs are finished) are then rank 0's on every rank. Collective.]=],
  ["dist.accumulator"] = [=[dist.accumulator(params, k [, {bucket = 4194304, transport = "reduce"}]) -> Accumulator
A buffer of k micro-batch gradients of the parameter list (k rows of all parameters flattened, in list order). acc:add(j) stores the current gradients as row j; acc:reduce(M) folds the rows of every rank in rank order into the parameters' .grad, divided by M. bucket: floats of the flattened gradients per step of the exchange (one MPI_Alltoallv and one MPI_Allgatherv per bucket). transport: "reduce" (each rank folds its own chunk of every bucket from all ranks' rows, then all-gathers the chunks: the traffic of an all-reduce) or "gather" (every row to every rank: the reference); both give the same bits.]=],
  ["dist.Accumulator:add"] = [=[acc:add(j)
Copy every parameter's current .grad (zeros where there is none) into row j (1..k) of the accumulator.]=],
  ["dist.Accumulator:reduce"] = [=[acc:reduce([divisor])
Set every parameter's .grad to (((r1 + r2) + r3) + ...) / divisor, where r1, r2, ... are the rows of rank 0, then rank 1, ... (global micro-batch order), folded element by element in float32: the same bits on every rank, and on one process with the same rows. Bucketed reduce-scatter (the fold) then all-gather. Collective.]=],
  ["data.Loader:batch_rows"] = [=[loader:batch_rows(split, B, first, count [, seq_len]) -> x, y
Rows first .. first + count - 1 of the batch loader:batch(split, B) would give: all B windows are drawn, so the sampler advances exactly as there, but only those rows are built. A process's shard of a global batch (repro.train under repro.dist).]=],
}
