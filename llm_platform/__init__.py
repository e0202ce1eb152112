"""llm-platform: the Pulumi program's library. `config` reads a stack, `aws` and `gcp` build a cloud's
base, `platform` runs on either, and `contract` names what both sides agree on.

No imports here: this file is shipped into the model pods with `contract.py` (see
`platform.model_server.POD_FILES`)."""
