"""Design-space sweeps: a spec (base configuration + axes) becomes a bundle of design points
(sweep.json, points.txt, one FuseSoC core per point) that any backend runs point by point with
`nnaccel sweep run-point`; `nnaccel sweep collect` tabulates the results. Format: docs/sweeps.md."""
