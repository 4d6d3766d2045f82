-- repro.optim (placeholder until its module lands)
return {}
