"""Teaching views of a trace, computing nothing new: the step-through's frames (frames.py, numbers written out
by numbers.py), predict-then-reveal questions (quiz.py, derive.py) and guided lessons (lessons.py)."""
