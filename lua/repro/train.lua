-- repro.train (placeholder until its module lands)
return {}
