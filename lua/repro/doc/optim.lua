-- Docstrings of repro.optim: optimizers, their state, schedules.
return {
  ["optim.sgd"] = [=[optim.sgd(params [, {lr = 1e-3, momentum = 0, dampening = 0, nesterov = false, weight_decay = 0}]) -> Optimizer
Stochastic gradient descent with optional (Nesterov) momentum, as PyTorch's SGD. params is a list of tensors or of groups {params = {...}, lr = ...} whose options override the shared ones; unknown options raise listing the valid ones.]=],
  ["optim.adamw"] = [=[optim.adamw(params [, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0.01, m_format = "fp32", v_format = "fp32"}]) -> Optimizer
AdamW (decoupled weight decay), as PyTorch's. m_format and v_format store the moments in "bf16" or in any format with codes ("e4m3fn", "e5m2", "e3m2fn", "e2m1fn", ...: 1 byte plus a per-tensor scale) for the FP8-moments experiments.]=],
  ["optim.adafactor"] = [=[optim.adafactor(params [, {lr = 1e-2, beta1 = 0, decay_rate = -0.8, clip_threshold = 1, eps = 1e-30, weight_decay = 0}]) -> Optimizer
Adafactor with an explicit learning rate: the second moment is factored into row and column statistics for parameters of 2 or more dimensions.]=],
  ["optim.shampoo"] = [=[optim.shampoo(params [, {lr = 3e-3, betas = {0.95, 0.95}, weight_decay = 0.01, precondition_frequency = 10, exponent = -0.25, graft = true, ...}]) -> Optimizer
Shampoo: Kronecker-factored preconditioning of each matrix (L^exponent G R^exponent), recomputed every precondition_frequency steps, with the step's norm grafted from AdamW. The SOAP paper's DistributedShampoo baseline: {exponent = -1/2.5, start_preconditioning_step = -1, matrix_eps = 1e-12, matrix_eps_relative = false} (AdamW's update alone until step precondition_frequency; absolute epsilon on the bias-corrected factors).]=],
  ["optim.soap"] = [=[optim.soap(params [, {lr = 3e-3, betas = {0.95, 0.95}, eps = 1e-8, weight_decay = 0.01, precondition_frequency = 10, max_precond_dim = 10000, ...}]) -> Optimizer
SOAP (Vyas et al. 2024): Adam run in the eigenbasis of Shampoo's preconditioner, the basis refreshed every precondition_frequency steps, following nikhilvyas/SOAP. The first step only accumulates statistics. The REPL prints the optimizer with every hyperparameter.]=],
  ["optim.save"] = [=[optim.save(path, state_dict)
Write an optimizer state_dict to a safetensors file, numbers kept exactly in the metadata.]=],
  ["optim.load"] = [=[optim.load(path) -> state_dict
Read a state_dict written by optim.save, for opt:load_state_dict.]=],
  ["optim.schedule.constant"] = [=[optim.schedule.constant(lr) -> function(step) -> lr
A schedule that always returns lr.]=],
  ["optim.schedule.linear_warmup"] = [=[optim.schedule.linear_warmup{lr =, warmup = 0} -> function(step) -> lr
lr · step / warmup during the first warmup steps, then lr.]=],
  ["optim.schedule.warmup_cosine"] = [=[optim.schedule.warmup_cosine{lr =, warmup = 0, total =, min_lr = 0} -> function(step) -> lr
Linear warm-up to lr at step warmup, then cosine decay to min_lr at step total, min_lr after.]=],

  ["Optimizer:step"] = [=[opt:step()
Update every parameter that has a gradient. A NaN or infinite gradient anywhere raises before anything changes ("non-finite gradient in parameter I of group G").]=],
  ["Optimizer:zero_grad"] = [=[opt:zero_grad()
Drop the gradients of all the optimizer's parameters.]=],
  ["Optimizer:state_dict"] = [=[opt:state_dict() -> table
The optimizer's full state (kind, learning rates, step counters, moment and preconditioner tensors) as a flat table, for checkpoints.]=],
  ["Optimizer:load_state_dict"] = [=[opt:load_state_dict(sd)
Restore a state_dict of an optimizer of the same kind and groups; everything is checked before anything changes.]=],
  ["Optimizer:memory_bytes"] = [=[opt:memory_bytes() -> integer
Bytes held by the optimizer's state tensors.]=],
  ["Optimizer:set_lr"] = [=[opt:set_lr(lr)
Set the learning rate of every group.]=],
  ["Optimizer:get_lr"] = [=[opt:get_lr() -> number
The learning rate of the first group.]=],
  ["Optimizer:param_groups"] = [=[opt:param_groups() -> {{lr =, ...}, ...}
Every group's hyperparameters, as tables.]=],

  ["OptimConfig:get"] = [=[config:get() -> table
The hyperparameters of one parameter group (internal: opt.groups[i].config).]=],
  ["OptimConfig:set"] = [=[config:set{option = value, ...}
Change hyperparameters of one parameter group (internal; opt:set_lr is the public way).]=],
  ["OptimState:buffers"] = [=[state:buffers() -> tensors, step, started
The state tensors of one parameter (internal; used by opt:state_dict).]=],
  ["OptimState:load"] = [=[state:load(tensors, step, started)
Restore one parameter's state (internal; used by opt:load_state_dict).]=],
  ["OptimState:bytes"] = [=[state:bytes() -> integer
Bytes held by one parameter's state (internal; used by opt:memory_bytes).]=],
}
