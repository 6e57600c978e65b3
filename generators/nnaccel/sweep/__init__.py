"""Design-space sweeps: a bundle of design points, run locally or on a cluster scheduler."""
