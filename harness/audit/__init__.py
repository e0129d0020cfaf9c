"""`harness audit`: measure a judge's biases with controlled perturbations before trusting its
rankings (see docs/audit.md)."""
