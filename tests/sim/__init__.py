"""The send path's simulation: see :mod:`tests.sim.world`."""
