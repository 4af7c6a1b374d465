"""The discrete-event simulator: a trace replayed on a modelled cluster under a simulated clock."""
