"""`vaesynth report`: figures, sounds and an HTML page of a model."""
