"""The LLM judge: a model grades each answer for stereotyping by a fixed, versioned rubric
(rubric.py); the grades are cached and recorded like answers (grading.py); the judge's own error is
measured against human labels (check.py) and carried into the gap's interval (ppi.py)."""
