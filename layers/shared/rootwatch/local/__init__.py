"""`rootwatch local`: the hub on this machine, on moto's server, from the project's templates."""
