-- repro.fp8 (placeholder until its module lands)
return {}
