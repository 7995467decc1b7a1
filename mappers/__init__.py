"""Mapping spaces and search loops; takes a batch cost function, never imports the simulator."""
