"""Default judge prompt templates, shipped inside the wheel as the package `harness_prompts`."""
