"""The math everything else is built from: the operations table and the layer kinds.

core imports nothing else from engine."""
