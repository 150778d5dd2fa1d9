"""Argilla (SDK 2.x) review and labelling, without Dagster.

client   the one adapter to the SDK: sessions, error translation, every SDK-private access
settings where the server is (the one constructor for the asset, the resource and the CLI)
schema   the DPO review dataset's fields, questions, metadata and its schema check
records  review records as plain data: building, stable ids, decision resolution (no SDK)
review   the push / fetch of review records through the SDK
sync     preference pairs in the database <-> the review dataset
labels   relevance labelling: judged posts out as suggestions, human labels back in
"""
