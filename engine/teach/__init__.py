"""Teaching views of a trace: its computation as frames to step through (frames.py), with the numbers
written out (numbers.py). Reads engine.inspector's Trace; computes nothing new."""
