"""Policy rules as plain functions over `(resource type, props)` and over the list of resources.

The same rules run in two places: `policies/__main__.py` wraps them into a Pulumi CrossGuard policy pack
(`pulumi preview --policy-pack policies`), and the offline preview (`tools/preview.py`) evaluates them
against the resources it recorded. Neither place adds rules of its own.
"""
