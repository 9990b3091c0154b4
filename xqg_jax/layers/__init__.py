"""Generic Flax linen building blocks shared by the encoders and mT5."""
