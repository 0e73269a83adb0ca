"""A team's own prompts made into a counterfactual suite (``bias-audit suites from-prompts``): the
swappers that turn a prompt's references to a person's gender (English, Spanish), the command's
reading and writing of files, and the measure of its swaps (docs/own-prompts.md)."""
