-- repro.linalg (placeholder until its module lands)
return {}
