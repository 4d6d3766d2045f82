-- repro.linalg: dense linear algebra on f32 matrices (LAPACKE).
--   linalg.eigh(A)                 -> w, V   eigenvalues ascending (LAPACK order),
--                                            eigenvectors in the columns of V: A = V diag(w) Vᵀ
--   linalg.qr(A)                   -> Q, R   reduced QR: A (m,n) = Q (m,k) R (k,n), k = min(m,n)
--   linalg.matrix_power(A, p, {eps = 0})     A^p for symmetric A via eigh: V diag((w+eps)^p) Vᵀ,
--                                            eigenvalues clamped at 0 first for fractional p
local core = require "repro.core"
local linalg = {}
for k, v in pairs(core.linalg) do linalg[k] = v end
return linalg
