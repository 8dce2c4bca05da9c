"""The S3 side of the store and the drop zone: the location and its client, one listing, the store, the drops."""
