"""A batched highway-v0 simulator in torch: ``B`` environments as tensors, faithful to highway-env."""
