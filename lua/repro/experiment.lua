-- repro.experiment (placeholder until its module lands)
return {}
