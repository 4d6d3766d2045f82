-- Docstrings of the functions of the `repro` table itself, repro.linalg, and
-- the REPL helpers (help, repr).
return {
  ["manual_seed"] = [=[repro.manual_seed(seed)
Seed the default random generator (the same function as T.manual_seed): tensors drawn afterwards, dropout masks and nn initialisation without an explicit generator follow from seed, identically at 1 or 2 threads.]=],
  ["set_threads"] = [=[repro.set_threads(n)
Run the kit's kernels on n threads (1 to 1024); REPRO_THREADS sets it at start. Results are bit-identical at any thread count.]=],
  ["get_threads"] = [=[repro.get_threads() -> integer
The number of threads the kernels run on.]=],
  ["blas_info"] = [=[repro.blas_info() -> string
The BLAS library, its threading build and how the kit uses it (as repro -v prints).]=],
  ["version"] = [=[repro.version() -> string
The kit's version number, e.g. "0.1.0".]=],
  ["wtime"] = [=[repro.wtime() -> number
Wall-clock seconds from a monotonic clock, for timing (os.clock() sums CPU time over threads).]=],
  ["help"] = [=[help(f | "name" | module)
Print the signature and description of a function of the kit, found by identity (help(T.randn)) or by name (help "tensor.randn", help "randn", help "Tensor:matmul"); a module or type lists its functions (help(nn), help "Tensor"). help() alone explains itself. Also repro.help.]=],
  ["repr"] = [=[repro.repr(value) -> string
The readable text of any value, as the REPL prints results: lists as {4, 8}, records with sorted keys, nested tables indented, tensors, optimizers (with their hyperparameters) and models through their own printing, floats at their shortest round-trip form.]=],

  ["linalg.eigh"] = [=[linalg.eigh(A) -> w, V
Eigenvalues (ascending) and eigenvectors (the columns of V) of a symmetric f32 matrix: A = V diag(w) Vᵀ (LAPACK).]=],
  ["linalg.qr"] = [=[linalg.qr(A) -> Q, R
The reduced QR decomposition A (m, n) = Q (m, k) R (k, n), k = min(m, n).]=],
  ["linalg.matrix_power"] = [=[linalg.matrix_power(A, p [, {eps = 0}]) -> Tensor
A^p for a symmetric matrix through eigh: V diag((w + eps)^p) Vᵀ, eigenvalues clamped at 0 first for fractional p.]=],
}
