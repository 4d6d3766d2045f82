-- experiments/fp8_instability.lua: FP8 training instability from SwiGLU
-- weight alignment, and the Smooth-SwiGLU fix (Fishman et al., "Scaling FP8
-- training to trillion-token LLMs", arXiv 2409.12517).
--
-- Placeholder: the experiment is not implemented yet. It prints so and exits
-- 0; it produces no numbers and no figure.
print("fp8_instability: not implemented yet.")
print("  It will train a small Llama-style model with SwiGLU in FP8 (E4M3 forward,")
print("  E5M2 backward, delayed scaling), show the loss divergence caused by SwiGLU")
print("  weight alignment, and compare Smooth-SwiGLU. No results are produced yet.")
